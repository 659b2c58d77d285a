"""The image's HEALTHCHECK: exit 0 when the web process on this container answers ``GET /healthz`` with 200.

Run by the container engine (``python /app/deploy/healthcheck.py``), not by Django: it reads the same process
variables gunicorn does (``PORT``, default 8000) and sends the first host of ``ALLOWED_HOSTS`` as the Host
header (a leading dot stripped, ``*`` or none: ``localhost``), so Django's host check accepts the probe;
``/healthz`` is exempt from the HTTPS redirect. Exit 1 on any other status, a refused connection or a
timeout (``HEALTHCHECK_TIMEOUT`` seconds, default 3).
"""

from __future__ import annotations

import http.client
import os
import sys


def probe_host(allowed_hosts: str) -> str:
    """The Host header to send: the first usable entry of a comma-separated ``ALLOWED_HOSTS``."""
    for entry in allowed_hosts.split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    """Probe ``http://127.0.0.1:$PORT/healthz``; 0 if it answered 200, else 1 (reason on stderr)."""
    port = int(os.environ.get("PORT") or "8000")
    timeout = float(os.environ.get("HEALTHCHECK_TIMEOUT") or "3")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"Host": probe_host(os.environ.get("ALLOWED_HOSTS", ""))})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthcheck: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
