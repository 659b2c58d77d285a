"""The load benchmark (``manage.py bench_load``): seed a realistic set of workspaces, start the production-like
stack (gunicorn, a Celery worker, beat), drive it with locust's simulated users, and report per endpoint.

- ``seed``: users, workspaces, documents (real text from BEIR SciFact and SQuAD), tokens and sessions;
- ``stack``: the processes of ``Procfile`` started as children, sampled for CPU and memory;
- ``locustfile``: what a simulated user does (loaded by locust, not by Django);
- ``report``: locust's statistics and the samples turned into the printed table, the JSON and the verdict.
"""
