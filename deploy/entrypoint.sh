#!/bin/sh
# The image's entrypoint: the first argument chooses the process, further arguments go to it.
#   web      gunicorn (config/gunicorn.py: WEB_CONCURRENCY processes x WEB_THREADS threads on BIND_HOST:PORT)
#   worker   a Celery worker (CELERY_CONCURRENCY pool processes) on the queues CELERY_WORKER_QUEUES (default
#            ingest,maintenance, as in Procfile); `worker --queues=ingest` consumes only the one given
#   beat     Celery beat (one per deployment)
#   migrate  apply the database migrations, then exit (once per release, before web and workers)
# Anything else runs as given, e.g. `python manage.py createsuperuser`.
set -e
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web) exec gunicorn -c config/gunicorn.py "$@" config.wsgi ;;
  worker) exec celery -A config worker --loglevel=INFO --concurrency="${CELERY_CONCURRENCY:-2}" \
    -Q "${CELERY_WORKER_QUEUES:-ingest,maintenance}" "$@" ;;
  beat) exec celery -A config beat --loglevel=INFO "$@" ;;
  migrate) exec python manage.py migrate --noinput "$@" ;;
  *) exec "$role" "$@" ;;
esac
