"""The remote embedding service (``EMBEDDING_BASE_URL``, documents.embedding_service) against a real loopback
server serving the local model's vectors (documents.testing): a real worker ingests through it and hybrid search
ranks as with the local model; a service of another dimension or model is refused at start-up; its wrong answers
fail a document with a reason (its unavailability defers it: test_ingest_retries.py), and a query falls back to the
local model."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from config import gunicorn
from config.bootstrap import ProcessState, process_setup, process_state
from config.logs import url_redact
from config.testing import wait_until
from config.worker_process import WorkerStartError
from documents.embedding_service import PROBE_SENTENCE, EmbeddingServiceError, embedding_service_check, probe_vector
from documents.embedding_variants import REFERENCE
from documents.embeddings import MODEL_NAME, embed_query, embed_query_async, embed_texts, local_embed_texts
from documents.models import Chunk, Document
from documents.services.upload import document_upload
from documents.tasks import document_ingest_task
from documents.testing import FakeEmbeddingService
from retrieval.selectors import search_chunks

PASSAGES = {
    "photosynthesis.md": "Plants convert sunlight, water and carbon dioxide into glucose and oxygen in chloroplasts.",
    "volcanoes.md": "Magma rises through the crust and erupts as lava; volcanic ash can ground aircraft for days.",
    "tides.md": "The gravitational pull of the moon and the sun raises ocean tides twice a day on most coasts.",
    "vaccines.md": "Vaccines train the immune system to recognise a pathogen without causing the disease itself.",
    "bread.md": "Yeast ferments sugars in dough, releasing carbon dioxide that makes bread rise before baking.",
}
QUERIES = ["how does lava erupt", "protection from infectious germs", "carbon dioxide", "why the sea rises"]


@pytest.fixture
def service() -> Iterator[FakeEmbeddingService]:
    fake = FakeEmbeddingService(hang_s=2.0)
    yield fake
    fake.close()


@pytest.fixture
def remote(settings, service) -> FakeEmbeddingService:
    settings.EMBEDDING_BASE_URL = service.url("ok")
    settings.EMBEDDING_REMOTE_TIMEOUT_S = 30.0
    settings.EMBEDDING_REMOTE_QUERY_TIMEOUT_S = 30.0  # the service's first answer loads this process's model
    return service


def test_the_recorded_probe_is_the_local_models_vector():
    assert float(local_embed_texts([PROBE_SENTENCE], variant="torch-fp32")[0] @ probe_vector()) > 0.9999


def test_record_embedding_probe_records_the_models_fp32_vector(settings, tmp_path):
    """The command to run after a model upgrade (documents/management/commands/record_embedding_probe.py): the
    reference variant's vector, whatever variant the process is configured with."""
    output = tmp_path / "probe.json"
    settings.EMBEDDING_VARIANT = "static"
    call_command("record_embedding_probe", output=output, stdout=io.StringIO())
    recorded = json.loads(output.read_text())
    assert len(recorded) == 384 and all(round(x, 6) == x for x in recorded)
    assert np.allclose(recorded, probe_vector(), atol=2e-6)  # the committed file is this model's vector


def test_the_service_embeds_as_the_local_model_in_batches(remote, settings):
    settings.EMBEDDING_REMOTE_BATCH_SIZE = 2
    texts = list(PASSAGES.values())
    vectors = embed_texts(texts)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(vectors * local_embed_texts(texts), axis=1) > 0.9999)  # rows in input order
    assert [len(body["input"]) for _, body in remote.requests] == [2, 2, 1]
    assert embedding_service_check() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("d256", "returns 256-d vectors; the stored embeddings are 384-d"),
        ("wrong", "disagrees with the local model (probe cosine"),
        ("e500", "failed its start-up check: The embedding service answered HTTP 500."),
    ],
)
def test_a_service_of_another_dimension_or_model_is_refused(settings, service, mode, reason, monkeypatch):
    settings.EMBEDDING_BASE_URL = service.url(mode)
    # a process not yet set up (earlier tests may have set this one up as a web process)
    monkeypatch.setattr("config.bootstrap._state", ProcessState(role="command", processes=1, warm=False))
    with pytest.raises(ImproperlyConfigured, match=reason.replace("(", r"\(")):
        embedding_service_check()
    with pytest.raises(ImproperlyConfigured):
        process_setup(role="web")


def test_the_services_credentials_stay_out_of_logs_and_errors(settings, service, caplog):
    base = service.url("ok").replace("http://", "http://user:s3cret@")
    settings.EMBEDDING_BASE_URL = base
    with caplog.at_level(logging.INFO):  # httpx logs each request's URL
        embedding_service_check()
        settings.EMBEDDING_BASE_URL = base.replace("/ok/", "/d256/")
        with pytest.raises(ImproperlyConfigured) as refused:
            embedding_service_check()
    assert f"the embedding service at {service.url('ok')} passed its start-up check" in caplog.text
    assert service.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert str(refused.value).startswith(f"the embedding service at {service.url('d256')} returns 256-d")
    assert "s3cret" not in caplog.text + str(refused.value)
    assert url_redact("https://u:p@[::1]:8443/v1?key=k#f") == "https://[::1]:8443/v1"


class Arbiter:
    """What config/gunicorn.py's hooks use of gunicorn's Arbiter; ``halt`` exits as the real one does."""

    def __init__(self, workers: int) -> None:
        self.cfg = SimpleNamespace(workers=workers)
        self.log = logging.getLogger("gunicorn.error")

    def halt(self, reason: str | None = None, exit_status: int = 0) -> None:
        raise SystemExit(exit_status)


@pytest.fixture
def fresh_process(monkeypatch):
    """This process as gunicorn's arbiter starts: not set up yet (restored afterwards)."""
    monkeypatch.setattr("config.bootstrap._state", ProcessState(role="command", processes=1, warm=False))
    monkeypatch.setattr("documents.embeddings._sibling_processes", 1)


def test_gunicorn_checks_the_service_once_in_the_arbiter_and_a_respawned_worker_never_exits(
    settings, service, fresh_process
):
    """A worker exiting with status 3 halts gunicorn: the check must not run in workers, where an outage during
    a respawn would stop the whole web tier."""
    settings.EMBEDDING_BASE_URL = service.url("ok")
    arbiter = Arbiter(workers=2)
    gunicorn.on_starting(arbiter)
    assert service.count("ok") == 1
    settings.EMBEDDING_BASE_URL = service.url("e500")  # the service is down while a worker is respawned
    gunicorn.post_fork(arbiter, None)
    assert service.count("e500") == 0
    assert process_state() == ProcessState(role="web", processes=2, warm=False)


def test_gunicorn_refuses_to_start_with_a_service_of_another_dimension(settings, service, fresh_process):
    settings.EMBEDDING_BASE_URL = service.url("d256")
    with pytest.raises(SystemExit) as exited:
        gunicorn.on_starting(Arbiter(workers=2))
    assert exited.value.code == 3


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("hang", "did not answer within 1 s"),
        ("e500", "answered HTTP 500"),
        ("malformed", "is not an embeddings response"),
        ("d256", "returned 256-d vectors"),
    ],
)
def test_service_failures_are_one_error_with_a_reason(settings, service, mode, reason):
    settings.EMBEDDING_BASE_URL = service.url(mode)
    settings.EMBEDDING_REMOTE_TIMEOUT_S = 1.0 if mode == "hang" else 30.0
    with pytest.raises(EmbeddingServiceError, match=reason):
        embed_texts(["a sentence"])


def test_an_unreachable_service_is_one_error(settings, service):
    settings.EMBEDDING_BASE_URL = service.url("ok")
    service.close()
    with pytest.raises(EmbeddingServiceError, match="could not be reached"):
        embed_texts(["a sentence"])


def test_a_query_falls_back_to_the_local_model_when_the_service_fails(settings, service):
    settings.EMBEDDING_BASE_URL = service.url("e500")
    vector = embed_query("a question nobody asked before 7f3a")
    assert service.requests  # the service was asked first
    assert float(vector @ local_embed_texts(["a question nobody asked before 7f3a"])[0]) > 0.9999


def test_requests_name_the_local_model_unless_another_name_is_set(remote, settings):
    settings.EMBEDDING_REMOTE_MODEL = ""
    embed_texts(["a passage"])
    settings.EMBEDDING_REMOTE_MODEL = "all-minilm"  # e.g. Ollama's name for it
    embed_texts(["a passage"])
    assert [body["model"] for _, body in remote.requests] == [MODEL_NAME, "all-minilm"]


def test_a_repeated_query_asks_the_service_once(remote):
    first = embed_query("which rocks come from volcanoes 51c0")
    assert embed_query("which rocks come from volcanoes 51c0") is first  # remembered
    assert remote.count("ok") == 1


def test_the_process_reuses_one_connection_to_the_service(remote):
    embed_texts(["a passage"])
    embed_texts(["another passage"])
    embed_query("how do tides work 8e21")
    assert remote.count("ok") == 3
    assert remote.connections == 1  # the process's client keeps its connection alive between calls


def test_a_query_falls_back_after_the_short_query_timeout(settings, service, caplog):
    """A query waits EMBEDDING_REMOTE_QUERY_TIMEOUT_S, not the ingestion timeout, then is embedded here."""
    settings.EMBEDDING_BASE_URL = service.url("hang")  # answers after 2 s: within the ingestion timeout
    settings.EMBEDDING_REMOTE_TIMEOUT_S = 30.0
    settings.EMBEDDING_REMOTE_QUERY_TIMEOUT_S = 0.5
    with caplog.at_level(logging.WARNING, logger="documents.embeddings"):
        vector = embed_query("a slow question 0d5e")
    assert service.count("hang") == 1
    assert "query embedded locally: The embedding service did not answer within 0.5 s" in caplog.text
    assert float(vector @ local_embed_texts(["a slow question 0d5e"])[0]) > 0.9999


def test_a_remote_query_in_flight_leaves_the_inference_thread_free(settings, service):
    """The round trip of a search's query runs on an I/O thread: the process's other embeddings (a fallback,
    answer sentences) go on meanwhile instead of queueing behind it."""
    settings.EMBEDDING_BASE_URL = service.url("hang")
    settings.EMBEDDING_REMOTE_QUERY_TIMEOUT_S = 10.0
    service.hang_s = 60.0  # until released
    local_embed_texts(["load the model first"])
    pending = embed_query_async("a question in flight 3b9a")
    wait_until(lambda: service.count("hang") == 1, timeout=10, failure=lambda: str(service.requests))
    local_embed_texts(["another request's sentence"])  # the inference thread is free
    assert not pending.done()  # still waiting for the service, not fallen back
    service.release.set()
    assert float(pending.result(timeout=30) @ local_embed_texts(["a question in flight 3b9a"])[0]) > 0.9999


@pytest.mark.django_db
def test_a_wrong_answer_of_the_service_fails_the_document_with_the_reason(settings, service, workspace):
    """(An unavailable service defers the document instead: test_ingest_retries.py.)"""
    settings.EMBEDDING_BASE_URL = service.url("malformed")
    upload = document_upload(
        workspace=workspace, user=None, file=ContentFile(b"Some text."), filename="a.txt", title="A", enqueue=False
    )
    assert document_ingest_task.run(upload.document.pk) == "failed"
    document = Document.objects.get(pk=upload.document.pk)
    assert (document.status, document.error) == (
        "failed",
        "The embedding service's answer is not an embeddings response. Retry the document later.",
    )


@pytest.fixture
def remote_worker(start_own_worker, service):
    """A worker of this module's own embedding through the service (the session worker is stopped meanwhile)."""
    return start_own_worker({"EMBEDDING_BASE_URL": service.url("ok")})


@pytest.mark.django_db(transaction=True)
def test_with_the_service_a_document_ingests_and_hybrid_search_ranks_as_locally(
    remote_worker, service, settings, alice, api_client_for
):
    client = api_client_for(alice)
    ids = []
    for name, text in PASSAGES.items():
        response = client.post(
            "/api/v1/documents/", {"file": SimpleUploadedFile(name, text.encode())}, format="multipart"
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    ready = Document.objects.filter(pk__in=ids, status__in=("ready", "failed"))
    wait_until(lambda: ready.count() == len(ids), timeout=120, failure=lambda: remote_worker.log.read_text()[-3000:])
    assert set(Document.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"ready"}
    log = remote_worker.log.read_text()
    assert re.search(r"worker process \d+ set up: .*, tokenizer loaded \(the embedding service embeds\)", log), log
    assert "model loaded" not in log  # the pool process never loaded the local model (~550 MB)
    ingested = [text for _, body in service.requests for text in body["input"] if text != PROBE_SENTENCE]
    chunks = list(Chunk.objects.filter(document_id__in=ids))
    assert len(ingested) >= len(chunks) == len(PASSAGES)  # every chunk was embedded by the service
    stored = np.array([np.asarray(chunk.embedding) for chunk in chunks], dtype=np.float32)
    reference = local_embed_texts(ingested, variant=REFERENCE)  # the model the service serves
    assert np.all((stored @ reference.T).max(axis=1) > 0.9999)

    workspace = alice.personal_workspace
    local = {q: [h.chunk.pk for h in search_chunks(workspace=workspace, query=q, k=3)] for q in QUERIES}
    settings.EMBEDDING_BASE_URL = service.url("ok")
    asked = len(service.requests)
    through_service = {q: [h.chunk.pk for h in search_chunks(workspace=workspace, query=q, k=3)] for q in QUERIES}
    assert len(service.requests) == asked + len(QUERIES)  # the queries were embedded by the service
    assert through_service == local


def test_a_worker_refuses_to_start_with_a_service_of_another_dimension(celery_worker, service, tmp_path):
    worker = type(celery_worker)(tmp_path, {"EMBEDDING_BASE_URL": service.url("d256")})
    with pytest.raises(WorkerStartError, match=r"refusing to start: .* returns 256-d vectors"):
        worker.start(timeout=60)
