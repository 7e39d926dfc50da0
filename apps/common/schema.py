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


def tracking_script_documented(result, generator, request, public):
    """A POSTPROCESSING_HOOKS entry: the tracking script's URL, served by a plain Django
    view (JavaScript, not JSON), stands in the public contract beside the calls it makes."""
    script = {"application/javascript": {"schema": {"type": "string"}}}
    result["paths"]["/t/{site_key}.js"] = {
        "get": {
            "operationId": "tracking_script",
            "summary": "The tracking script of a site",
            "description": (
                "Load it with the install snippet (the queue stub, then this script with "
                "`async`): calls to `hj()` made before it loads are replayed in order. "
                "Compressed for browsers that accept gzip; cacheable for five minutes "
                "(`Cache-Control: public, max-age=300`); "
                "`Cross-Origin-Resource-Policy: cross-origin`. See docs/tracking-script.md."
            ),
            "tags": ["v1"],
            "security": [],
            "parameters": [
                {
                    "name": "site_key",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The site's public key.",
                }
            ],
            "responses": {
                "200": {"description": "The script.", "content": script},
                "404": {
                    "description": "No site has this key: a comment, not a script.",
                    "content": script,
                },
            },
        }
    }
    return result
