# Groundwork image: web, worker and beat from one image (choose with the command).
# Expects DATABASE_URL (PostgreSQL with pgvector) and REDIS_URL; without them it starts embedded servers
# under /data, which suits a single-container trial only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GROUNDWORK_DATA_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 BIND_HOST=0.0.0.0 PORT=8000

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=false SECRET_KEY=build-only DATABASE_URL=postgres://unused/unused REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 1000 groundwork && mkdir -p /data && chown groundwork /data

USER groundwork
EXPOSE 8000
# Run migrations once per deploy: docker run IMAGE python manage.py migrate
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
