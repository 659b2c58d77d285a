"""The container files (issue 14, item 5): the Dockerfile's stages, compose.yaml's services and their order, the
image's entrypoint and healthcheck. No container engine runs here: the Dockerfile is read by a small parser,
compose.yaml by PyYAML and by Debian's ``docker-compose config`` (deploy/check-compose, also a step of .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from config.settings.paths import BASE_DIR

DEPLOY = BASE_DIR / "deploy"
APP_SERVICES = ("migrate", "web", "worker", "beat")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [arguments for name, arguments in self.instructions if name == instruction]

    def text(self) -> str:
        return "\n".join(f"{name} {arguments}" for name, arguments in self.instructions)


def dockerfile_stages(text: str) -> list[Stage]:
    """The Dockerfile's stages in order: comments dropped, continuation lines joined, one (name, args) per line."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", arguments.strip(), re.IGNORECASE)
            assert match, f"unreadable FROM: {line}"
            stages.append(Stage(base=match[1], name=match[2]))
        elif instruction != "ARG" or stages:  # an ARG before the first FROM belongs to no stage
            stages[-1].instructions.append((instruction, arguments.strip()))
    return stages


def test_the_dockerfile_builds_wheels_then_installs_only_them_into_a_slim_stage():
    stages = dockerfile_stages((BASE_DIR / "Dockerfile").read_text())
    assert len(stages) == 2
    builder, final = stages
    assert (builder.base, builder.name) == ("python:3.11-slim", "builder")
    build = builder.text()
    assert "build-essential" in build
    # torch's CPU build, of the version requirements.txt pins, from PyTorch's CPU index only; then every wheel.
    assert "download.pytorch.org/whl/cpu" in build and "+cpu" in build
    assert re.search(r"pip wheel .*--constraint torch-cpu\.txt -r requirements\.txt", build)
    assert final.base == "python:3.11-slim"
    install = [run for run in final.args("RUN") if "pip install" in run]
    assert len(install) == 1
    assert "--mount=type=bind,from=builder,source=/wheels" in install[0]
    assert "--no-index --find-links /wheels -r requirements.txt" in install[0]


def test_the_final_stage_has_no_build_or_test_tools_and_runs_unprivileged():
    final = dockerfile_stages((BASE_DIR / "Dockerfile").read_text())[-1]
    text = final.text()
    for banned in ("build-essential", "gcc", "g++", "playwright", "pytest", "chromium", "fonts-"):
        assert banned not in text, banned
    # The one system install: OCR's Tesseract and its English data, nothing recommended, package lists dropped.
    (apt,) = [run for run in final.args("RUN") if "apt-get install" in run]
    assert re.fullmatch(
        r"apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng"
        r" && rm -rf /var/lib/apt/lists/\*",
        " ".join(apt.split()),
    ), apt
    assert final.instructions.index(("RUN", apt)) < final.instructions.index(("COPY", ". ."))
    assert "requirements-dev" not in text
    users = final.args("USER")
    assert users and users[-1] not in ("root", "0", "0:0")
    assert "collectstatic" in " ".join(final.args("RUN"))
    (healthcheck,) = final.args("HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "/app/deploy/healthcheck.py"]')
    assert final.args("ENTRYPOINT") == ['["/app/deploy/entrypoint.sh"]']
    assert final.args("CMD") == ['["web"]']


def test_dockerignore_keeps_local_data_secrets_and_test_tools_out_of_the_context():
    ignored = set((BASE_DIR / ".dockerignore").read_text().split())
    assert {"var", ".venv", ".git", ".env", "requirements-dev.txt", "*/tests", ".coverage", "test-results"} <= ignored


def _compose() -> dict:
    return yaml.safe_load((BASE_DIR / "compose.yaml").read_text())


def test_compose_starts_the_app_after_healthy_stores_and_a_successful_migrate():
    services = _compose()["services"]
    assert re.fullmatch(r"pgvector/pgvector:pg1[67]", services["db"]["image"])
    for store in ("db", "redis"):
        assert services[store]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "worker", "beat"):
        assert services[name]["command"] == [name]
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_compose_app_services_share_one_image_env_file_and_media_volume():
    compose = _compose()
    assert set(compose["volumes"]) == {"db", "redis", "media"}
    assert compose["services"]["db"]["volumes"] == ["db:/var/lib/postgresql/data"]
    assert compose["services"]["redis"]["volumes"] == ["redis:/data"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert service["volumes"] == ["media:/data/media"]
        environment = service["environment"]
        # Set here, not from .env: a copied .env.example has BIND_HOST=127.0.0.1 and a blank data folder.
        assert environment["BIND_HOST"] == "0.0.0.0"
        assert environment["GROUNDWORK_DATA_DIR"] == "/data"
        assert environment["DATABASE_URL"].endswith("@db:5432/groundwork")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_compose_worker_serves_its_metrics_inside_the_network_only():
    """The worker's metric files stay in its container: it serves them itself (config.worker_metrics) on a port
    that Prometheus reaches in the compose network, never published on the host."""
    worker = _compose()["services"]["worker"]
    assert worker["environment"]["WORKER_METRICS_PORT"] == "${WORKER_METRICS_PORT:-9808}"
    assert "ports" not in worker
    assert worker["environment"]["DATABASE_URL"] == _compose()["services"]["web"]["environment"]["DATABASE_URL"]


def _check_compose(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose; .ci/run installs it)")
    return subprocess.run(
        [str(DEPLOY / "check-compose"), *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_docker_compose_config_accepts_compose_yaml_and_resolves_it():
    result = _check_compose(str(BASE_DIR / "compose.yaml"), "-v")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["web"]["ports"] == [{"published": 8000, "target": 8000}]
    assert resolved["services"]["web"]["environment"]["DATABASE_URL"] == (
        "postgres://groundwork:check-compose-only@db:5432/groundwork"
    )
    assert resolved["services"]["worker"]["environment"]["WORKER_METRICS_PORT"] == "9808"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("service_completed_successfully", "invalid type"),  # an unknown depends_on condition
        ("  media:\n", "no declaration was found"),  # a volume used but not declared
    ],
)
def test_docker_compose_config_rejects_a_broken_compose_file(tmp_path, broken, message):
    text = (BASE_DIR / "compose.yaml").read_text()
    assert text.count(broken) >= 1
    broken_file = tmp_path / "compose.yaml"
    broken_file.write_text(text.replace(broken, "service_done" if broken.startswith("service") else ""))
    result = _check_compose(str(broken_file))
    assert result.returncode != 0
    assert message in result.stderr


def _entrypoint(tmp_path: Path, *args: str, **env: str) -> str:
    """Run deploy/entrypoint.sh with stand-ins for gunicorn, celery and python that print their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in ("gunicorn", "celery", "python"):
        stub = bin_dir / program
        stub.write_text(f'#!/bin/sh\necho {program} "$@"\n')
        stub.chmod(0o755)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CELERY_CONCURRENCY": "3", **env}
    result = subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), *args], env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_the_entrypoint_runs_each_process_type(tmp_path):
    assert _entrypoint(tmp_path) == "gunicorn -c config/gunicorn.py config.wsgi"
    assert _entrypoint(tmp_path, "web", "--workers=4") == "gunicorn -c config/gunicorn.py --workers=4 config.wsgi"
    assert _entrypoint(tmp_path, "worker") == (
        "celery -A config worker --loglevel=INFO --concurrency=3 -Q ingest,maintenance"
    )
    assert _entrypoint(tmp_path, "worker", "--queues=ingest") == (  # the last one given wins
        "celery -A config worker --loglevel=INFO --concurrency=3 -Q ingest,maintenance --queues=ingest"
    )
    assert _entrypoint(tmp_path, "worker", CELERY_WORKER_QUEUES="maintenance") == (
        "celery -A config worker --loglevel=INFO --concurrency=3 -Q maintenance"
    )
    assert _entrypoint(tmp_path, "beat") == "celery -A config beat --loglevel=INFO"
    assert _entrypoint(tmp_path, "migrate") == "python manage.py migrate --noinput"
    assert _entrypoint(tmp_path, "echo", "any", "command") == "any command"


def _healthcheck(port: int, allowed_hosts: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PORT": str(port), "ALLOWED_HOSTS": allowed_hosts, "HEALTHCHECK_TIMEOUT": "5"}
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")], env=environment, capture_output=True, text=True, timeout=30
    )


def test_the_healthcheck_passes_only_when_healthz_answers_200(live_server):
    port = int(live_server.url.rsplit(":", 1)[1])
    assert _healthcheck(port, ".localhost,example.org").returncode == 0  # Host: localhost, allowed in tests
    refused_host = _healthcheck(port, "groundwork.example.com")  # not in the test settings' ALLOWED_HOSTS
    assert refused_host.returncode == 1
    assert "answered 400" in refused_host.stderr
    with socket.socket() as bound_only:  # a local port nobody accepts on: connection refused
        bound_only.bind(("127.0.0.1", 0))
        assert _healthcheck(bound_only.getsockname()[1], "").returncode == 1
