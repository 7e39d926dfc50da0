"""Parsing and matching of the browser origins a site allows to call the public API."""

import ipaddress
import re
from urllib.parse import urlsplit

import idna
from django.core.exceptions import ValidationError

MAX_ORIGINS = 20
# A host name's label as browsers send it in an Origin header (underscores included, which
# some private hosts carry); an IPv4 address passes too.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def normalize_origin(raw: str) -> str:
    """`https://Shop.Example.com/` → `https://shop.example.com`, a Unicode domain in its
    ASCII (punycode) form; raises ValidationError."""
    value = raw.strip()
    try:
        parts = urlsplit(value)  # a bracketed host that is no IPv6 address raises
    except ValueError:
        raise ValidationError(f"“{value}” has a host name that is not a domain.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"“{value}” is not an origin: use https://example.com.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationError(f"“{value}” has a path or query: give only scheme://host[:port].")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(f"“{value}” has an invalid port.") from None
    host = parts.hostname.lower()
    if not host.isascii():
        # Browsers send a Unicode domain in its ASCII form (bücher.example is
        # xn--bcher-kva.example in the Origin header): keep that form, or it never matches.
        # UTS #46 as browsers apply it (faß.de is xn--fa-hia.de; Python's own "idna" codec
        # would make it fass.de).
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ValidationError(f"“{value}” has a host name that is not a domain.") from None
    host = _host_checked(host, value)
    default_port = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def _host_checked(host: str, value: str) -> str:
    """A host a browser can send: a domain name, an IPv4 address, or an IPv6 address in
    brackets. An origin with any other host would be saved and then never match."""
    if "*" in host:
        raise ValidationError(
            f"“{value}”: wildcards are not supported. List each origin, one per line."
        )
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValidationError(f"“{value}” has a host name that is not a domain.") from None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValidationError(f"“{value}” has a host name that is not a domain.")
    return host


def parse_origins(text: str) -> list[str]:
    """One origin per line (or comma separated); duplicates removed, order kept."""
    items = [item for line in text.splitlines() for item in line.split(",") if item.strip()]
    origins: list[str] = []
    errors: list[ValidationError] = []
    for item in items:
        try:
            origin = normalize_origin(item)
        except ValidationError as error:
            errors.append(error)
            continue
        if origin not in origins:
            origins.append(origin)
    if errors:
        raise ValidationError(errors)
    if len(origins) > MAX_ORIGINS:
        raise ValidationError(f"At most {MAX_ORIGINS} origins per site.")
    return origins


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    try:
        return normalize_origin(origin) in allowed
    except ValidationError:
        return False
