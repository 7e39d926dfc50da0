"""Reference endpoints that only exist on the bench server.

B0 is the cheapest answer the same Django stack can give; B1 does the identify call's
parsing and attribute validation without touching the database. The distance from B1 to
the real identify endpoint (B2) is what the database work costs.
"""

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import LenientJSONParser
from apps.common.errors import ApplicationError
from apps.identity.apis import _body
from apps.user_attributes.validation import check_attributes, clean_client_id, clean_user_id


@require_GET
def b0_trivial(request):
    return JsonResponse({"ok": True})


class B1ValidateOnly(APIView):
    """The identify payload through DRF and the attribute validator; nothing stored."""

    parser_classes = [LenientJSONParser]
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request, site_key: str):
        body = _body(request)
        attributes = body.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ApplicationError("invalid_attributes", "attributes must be a flat object.")
        visitor_id = clean_client_id(body.get("visitor_id"), name="visitor_id")
        user_id = clean_user_id(body.get("user_id"))
        clean_client_id(body.get("message_id"), name="message_id", required=False)
        check = check_attributes(attributes, identified=user_id is not None)
        return Response(
            {
                "visitor_id": visitor_id,
                "user_id": user_id,
                "stored": sorted(check.accepted),
                "rejected": check.rejected,
            }
        )
