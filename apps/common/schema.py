"""The OpenAPI schema's view, and the description of our own authentication, for
drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer


class SchemaView(SpectacularAPIView):
    """The schema in YAML or JSON; its errors (a POST, an Accept it cannot give) are JSON
    `{"code", "message"}` like every other API error, not YAML."""

    def finalize_response(self, request, response, *args, **kwargs):
        if getattr(response, "exception", False):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.common.api.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token, created on the account page (`ck_…`).",
        }
