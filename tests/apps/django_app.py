"""A one-file Django project for the framework pool tests, served as WSGI (`django_app:app`,
gunicorn gthread) or ASGI (`django_app:asgi_app`, uvicorn: Django 3.2 runs sync views in
asgiref's single thread). Logging goes through a stdlib QueueListener thread, as many
deployments do: a Python thread idle on a queue that is no worker of the server's pool.
/sleep?ms=N logs each handler's true start and end with pid and tid to $STALL_LOG (stallkit).
"""

import logging
import logging.handlers
import os
import queue

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

import stallkit

APP = "django"

settings.configure(
    DEBUG=False,
    SECRET_KEY="stallscope-test",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    LOGGING_CONFIG=None,
)
django.setup()

log = logging.getLogger("django_app")
log.setLevel(logging.INFO)
log.propagate = False
_log_queue = queue.Queue()
log.addHandler(logging.handlers.QueueHandler(_log_queue))
_listener = logging.handlers.QueueListener(_log_queue, logging.StreamHandler(open(os.devnull, "w")))
_listener.start()


def sleep_view(request):
    ms = stallkit.parse_ms(request.META.get("QUERY_STRING"))
    log.info("sleep %d ms", ms)
    body = stallkit.run_stall(APP, "sleep", ms)
    log.info("slept")
    return HttpResponse(body, content_type="text/plain")


def fast_view(request):
    return HttpResponse(stallkit.fast_body(), content_type="text/plain")


urlpatterns = [path("sleep", sleep_view), path("fast", fast_view)]

from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings)
from django.core.wsgi import get_wsgi_application  # noqa: E402

app = get_wsgi_application()
asgi_app = get_asgi_application()
stallkit.announce_ready(APP)
