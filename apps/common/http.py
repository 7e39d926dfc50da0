from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, honouring REST_FRAMEWORK["NUM_PROXIES"] behind a proxy."""
    return BaseThrottle().get_ident(request) or None
