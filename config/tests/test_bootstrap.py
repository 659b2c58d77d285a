"""Process set-up (config.bootstrap): one owner, called by gunicorn's hook and by Celery's signals in
config.celery, never registered as a side effect of importing a tasks module."""

from __future__ import annotations

import importlib
import os
import re
import time
from types import SimpleNamespace

import pytest
from celery import signals
from celery.utils.dispatch import Signal

from config.bootstrap import ProcessState, process_setup, process_state
from documents import embeddings


@pytest.fixture
def restore_process_state():
    before = process_state()
    yield
    process_setup(role=before.role, processes=before.processes)


def _receiver_modules(signal: Signal) -> set[str]:
    return {receiver.__module__ for receiver in signal._live_receivers(None)}


def test_importing_tasks_modules_registers_no_signal_handlers():
    for name in ("documents.tasks", "retrieval.tasks"):
        importlib.import_module(name)
    every_signal = [value for value in vars(signals).values() if isinstance(value, Signal)]
    modules = set().union(*(_receiver_modules(signal) for signal in every_signal))
    assert not {m for m in modules if m.split(".")[0] in {"accounts", "documents", "retrieval", "chat"}}
    assert "config.celery" in _receiver_modules(signals.celeryd_after_setup)
    assert "config.celery" in _receiver_modules(signals.worker_process_init)


def test_the_worker_sets_itself_up_through_config_celery(settings, restore_process_state):
    """The main process records the pool size before forking; each pool process inherits it."""
    settings.EMBEDDING_PRELOAD_IN_WORKER = False
    settings.EMBEDDING_THREADS = 0
    signals.celeryd_after_setup.send(sender="w@host", instance=SimpleNamespace(concurrency=3), conf=None)
    assert process_state() == ProcessState(role="worker", processes=3, warm=False)
    signals.worker_process_init.send(sender=None)
    assert process_state() == ProcessState(role="worker", processes=3, warm=False)
    assert embeddings.embedding_threads() == max(1, len(os.sched_getaffinity(0)) // 3)


def test_process_setup_shares_the_cores_unless_threads_are_set(settings, restore_process_state):
    settings.EMBEDDING_THREADS = 0
    process_setup(role="web", processes=0)
    assert process_state().processes == 1
    assert embeddings.embedding_threads() == len(os.sched_getaffinity(0))
    settings.EMBEDDING_THREADS = 5
    assert embeddings.embedding_threads() == 5


def test_gunicorn_post_fork_sets_up_a_web_process(restore_process_state):
    from config import gunicorn

    server = SimpleNamespace(cfg=SimpleNamespace(workers=4))
    gunicorn.post_fork(server, None)  # gunicorn's Arbiter: only its cfg is read
    assert process_state() == ProcessState(role="web", processes=4, warm=False)


def test_gunicorn_post_worker_init_loads_the_model_and_survives_a_failure(
    restore_process_state, settings, tmp_path, caplog
):
    """Loaded before the first request; a failure (here the model's file cannot be made: its folder is a file) is
    logged, not raised: an exception before a worker booted makes gunicorn's arbiter halt the whole web tier."""
    from config import gunicorn

    process_setup(role="web", processes=2)
    gunicorn.post_worker_init(None)
    assert process_state() == ProcessState(role="web", processes=2, warm=True)

    process_setup(role="web", processes=2)
    (tmp_path / "not-a-folder").write_text("")
    settings.EMBEDDING_VARIANT = "onnx-int8"
    settings.EMBEDDING_ARTIFACTS_DIR = str(tmp_path / "not-a-folder")  # clears the loaded encoders
    gunicorn.post_worker_init(None)
    assert process_state().warm is False
    assert "did not load ahead" in caplog.text


def test_a_real_pool_process_loads_the_model_as_it_starts(celery_worker):
    """The worker the tests start (prefork, concurrency 1): its pool process logs its set-up, model loaded.
    The pool process starts beside the main one, so its line may follow the worker's "ready"."""
    pattern = re.compile(r"worker process \d+ set up: 1 process\(es\) share .* each, model loaded")
    deadline = time.monotonic() + 120
    while not pattern.search(celery_worker.log.read_text()):
        assert time.monotonic() < deadline, celery_worker.log.read_text()[-3000:]
        time.sleep(0.2)
