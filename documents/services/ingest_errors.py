"""The outcomes of an ingestion turn other than ``ready``, raised inside the pipeline
(``documents.services.ingest``) and handled by ``document_ingest``."""

from __future__ import annotations


class IngestionFailed(Exception):
    """A permanent failure: the document moves to ``failed`` with ``message`` for the user."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage


class IngestionYielded(Exception):
    """The document gave its worker to another workspace's document (``scheduling.Slice``) after embedding
    ``done`` of its chunks, which are kept for when it resumes."""

    def __init__(self, done: int) -> None:
        super().__init__(f"yielded after {done} chunks")
        self.done = done


class IngestionDeferred(Exception):
    """A transient failure (the embedding service is unavailable): the document waits and is retried
    (``ingest.document_defer``), keeping the embeddings done so far."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
