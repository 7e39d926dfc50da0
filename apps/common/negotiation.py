"""The API's content negotiation (DEFAULT_CONTENT_NEGOTIATION_CLASS): a module of its own,
which DRF's settings import before its views exist."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class FormatRefusingNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, with a `?format=` no renderer has answered 406 like an
    Accept header none matches (DRF answers 404, which reads as a missing site)."""

    def filter_renderers(self, renderers, format):
        kept = [renderer for renderer in renderers if renderer.format == format]
        if not kept:
            raise exceptions.NotAcceptable(available_renderers=renderers)
        return kept
