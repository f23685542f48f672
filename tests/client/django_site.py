"""A minimal Django project in one module: settings, one webhook view and its URL.

``configure()`` sets Django up once per process (with CSRF protection on, which the
view must be exempt from) and gives its WSGI application."""

from __future__ import annotations

from typing import Any

from batchhook_client.webhooks import Event
from batchhook_client.webhooks.django import verified_webhook
from django.http import HttpResponse

from worker.signing import new_secret

SECRET = new_secret()
received: list[Event[Any]] = []


@verified_webhook(SECRET)
def batch_hook(request: Any, event: Event[Any]) -> HttpResponse:
    received.append(event)
    return HttpResponse(status=204)


def urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("hooks/batches", batch_hook)]


def configure() -> Any:
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="django-test-key-for-the-client-tests",
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF="tests.client.django_urls",
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
    return get_wsgi_application()
