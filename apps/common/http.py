import ipaddress

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, honouring REST_FRAMEWORK["NUM_PROXIES"] behind a proxy."""
    return BaseThrottle().get_ident(request) or None


def client_key(request: HttpRequest) -> str | None:
    """Who a rate limit per client counts: the address, or for IPv6 its /64 network, which
    one subscriber usually holds whole (counting each address would let one machine pass
    a limit per client as often as it picks a new address)."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ip  # a forwarded value that is no address: counted as it is
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1, a dual-stack IPv4 client
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))
