"""gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Sync workers spend most of their time waiting on PostgreSQL; two per core plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500
# Workers fork from a master that has already imported the app, so a recycled worker
# serves at once instead of importing Django again (about a second of CPU each time,
# taken from the workers still serving), and the workers share that code's memory.
# Nothing connects at import: the database, Redis and the per-process caches are opened
# by each worker on first use (tests/reliability/test_gunicorn.py). New code therefore
# needs a new master: restart the service (or USR2, then QUIT the old master); HUP only
# replaces the workers with copies of the code already loaded.
preload_app = True
# Our middleware writes one JSON line per request with its request id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from the load balancer in front of us.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
limit_request_fields = 100


def post_fork(server, worker):
    # A connection whose request was read to its end is closed at once after the answer
    # (config/gunicorn_close.py), instead of holding the worker until the client closes.
    from config.gunicorn_close import install

    install()


def post_worker_init(worker):
    # A long export tells the arbiter that its worker is alive while rows go out
    # (apps/common/liveness.py); a request that makes no progress is killed after
    # `timeout` as before.
    from apps.common.liveness import progress_report_install

    progress_report_install(worker.notify)


def post_request(worker, req, environ, resp):
    from config.gunicorn_close import request_done

    request_done(worker, req, environ, resp)
