"""Reading a server-sent-events answer as a client does (the load benchmark's streamed questions); no locust
import here, so tests can use it without gevent patching their process."""

from __future__ import annotations

import time
from typing import Any


def read_events(response: Any) -> tuple[float | None, str]:
    """Read a server-sent-events answer to its end: the clock time of its first ``token`` event (None without
    one) and the name of its last event."""
    first, last, buffer = None, "", b""
    for chunk in response.iter_content(chunk_size=1024):
        buffer += chunk.encode() if isinstance(chunk, str) else chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    last = line[7:].decode()
                    if last == "token" and first is None:
                        first = time.perf_counter()
    return first, last
