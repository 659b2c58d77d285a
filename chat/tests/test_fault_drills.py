"""Fault drills (``manage.py fault_drills``, issue 17 part 2): cheap drills end to end on the production-like stack,
and the data checks shown to fail on the damage each one looks for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import User, Workspace
from accounts.selectors import workspace_get_personal
from chat.drills import checks
from chat.loadtest.stack import free_port
from chat.models import Conversation, Message
from documents.models import Chunk, Document
from retrieval.tests.factories import ingest_text


def test_the_llm_and_web_process_drills_recover_with_their_data_intact(transactional_db, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # the stack's processes use the test database
    out = tmp_path / "drills"
    call_command(
        "fault_drills",
        *("--only", "llm,web", "--port", str(free_port()), "--out", str(out), "--json", str(tmp_path / "f.json")),
        *("--llm-hold-s", "3", "--recovery-bound-s", "120", "--settle-s", "120"),
    )
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["failed"] == []
    llm, web = figures["drills"]
    assert llm["name"] == "llm faults" and llm["verdict"] == "ok" and llm["recovery_s"] is not None
    seen = {label for kind in ("ask", "stream") for label in llm["users"][kind]["seen"]}
    assert {"201 fallback", "200 done fallback"} & seen, "users got the offline answer while the provider failed"
    assert web["verdict"] == "ok" and "saw 200 cut" in " ".join(web["notes"])
    assert not Message.objects.filter(role=Message.Role.ASSISTANT, content="").exists()


@pytest.fixture
def space(alice: User, settings, tmp_path) -> Workspace:
    settings.MEDIA_ROOT = tmp_path / "media"  # no file of another test run in the workspace's upload folder
    workspace = workspace_get_personal(user=alice)
    ingest_text(workspace, "Basalt forms from lava. Granite cools slowly underground. " * 20, title="Rocks")
    return workspace


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def test_the_checks_pass_on_intact_data_and_name_each_kind_of_damage(space, alice):
    ws = [space.pk]
    chunk = Chunk.objects.filter(workspace=space).first()
    assert chunk is not None
    since = space.created_at
    assert not any(checks.data_checks(workspaces=ws, uploads=[chunk.document_id], since=since).values())

    _sql(
        "DELETE FROM retrieval_posting WHERE chunk_id = %s AND ctid IN "
        "(SELECT ctid FROM retrieval_posting WHERE chunk_id = %s LIMIT 1)",
        [chunk.pk, chunk.pk],
    )
    _sql(
        "INSERT INTO retrieval_posting (workspace_id, lexeme, chunk_id, document_id, tf, length) "
        "VALUES (%s, 'ghost', 999999999, 1, 1, 1)",
        [space.pk],
    )
    assert [p.split(":")[0] for p in checks.postings(ws)] == [
        "1 postings missing or wrong",
        "1 postings the chunks do not give",
    ]

    _sql("UPDATE retrieval_workspacestats SET chunk_count = chunk_count + 1 WHERE workspace_id = %s", [space.pk])
    assert checks.workspace_stats(ws)
    _sql("UPDATE retrieval_termstats SET df = df + 1 WHERE workspace_id = %s AND lexeme = 'basalt'", [space.pk])
    assert "basalt" in checks.term_stats(ws)[0]


def test_the_checks_name_duplicate_and_orphan_chunks(space):
    ws = [space.pk]
    chunk = Chunk.objects.filter(workspace=space).first()
    assert chunk is not None
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses a table with trigger events pending
    _sql(f"ALTER TABLE {checks.CHUNKS} DROP CONSTRAINT chunk_version_ordinal_unique")  # rolled back with the test
    columns = [str(f.column) for f in Chunk._meta.concrete_fields if f.column != "id"]
    names = ", ".join(columns)
    _sql(f"INSERT INTO {checks.CHUNKS} ({names}) SELECT {names} FROM {checks.CHUNKS} WHERE id = %s", [chunk.pk])
    assert checks.duplicate_chunks(ws)[0].startswith("1 (version, ordinal) pairs")
    Document.objects.filter(pk=chunk.document_id).update(current_version=None)
    assert checks.orphan_chunks(ws)


def test_the_checks_name_stuck_documents_lost_uploads_empty_answers_and_orphan_files(space, alice, settings):
    ws = [space.pk]
    document = Document.objects.get(workspace=space)
    Document.objects.filter(pk=document.pk).update(status=Document.Status.EMBEDDING)
    assert checks.stuck_documents(ws)
    Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error="")
    assert checks.uploads_ended([document.pk, 999_999_999]) == [
        "1 acknowledged uploads lost: [999999999]",
        f"1 uploads neither ready nor failed with a reason: [{document.pk}]",
    ]
    conversation = Conversation.objects.create(workspace=space, user=alice)
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Why?")
    assert checks.unanswered_questions(ws, conversation.created_at) == 1
    Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content=" ")
    assert checks.half_written_messages(ws)
    folder = Path(settings.MEDIA_ROOT) / "uploads" / str(space.pk)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half-stored").write_bytes(b"partial")
    try:
        assert "uploads/" in checks.orphan_files(ws, space.created_at)[0]
    finally:
        (folder / "half-stored").unlink()
