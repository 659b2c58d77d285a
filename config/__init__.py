"""Project wiring: settings, URLs, Celery, WSGI/ASGI, embedded services, API plumbing."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
