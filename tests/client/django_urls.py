"""The Django test site's ROOT_URLCONF (see ``django_site``)."""

from tests.client.django_site import urlpatterns as _patterns

urlpatterns = _patterns()
