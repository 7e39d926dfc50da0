"""Public endpoints called by the tracking script (or a customer's back end) with a site key."""

from datetime import datetime, tzinfo

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.common.api import AccountTokenAPIView, PublicSiteAPIView
from apps.common.errors import ApplicationError
from apps.feedback_targeting.models import Response as WidgetResponse
from apps.identity.models import PrivacyAudit, Profile
from apps.identity.selectors import LOOKUP_ROWS_PER_KIND
from apps.identity.services import (
    person_delete,
    person_lookup_record,
    session_record,
    visitor_identify,
)
from apps.user_attributes.validation import (
    ID_RE,
    MAX_ATTRIBUTES_PER_CALL,
    MAX_KEY_LENGTH,
    MAX_KEYS_PER_SITE,
    MAX_STRING_LENGTH,
    MAX_USER_ID_LENGTH,
    Reason,
    clean_client_id,
    clean_user_id,
)


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


def _error(description: str, *codes: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=f"{description} Codes: " + ", ".join(f"`{c}`" for c in codes) + ".",
        examples=[
            OpenApiExample(code, value={"code": code, "message": "…"}, response_only=True)
            for code in codes
        ],
    )


# Answers every endpoint with a JSON body can give before its own checks run.
BODY_ERRORS = {
    413: _error("The body is larger than 256 KiB.", "body_too_large"),
    415: _error(
        "The body is not sent as JSON (Content-Type: application/json, or text/plain as the "
        "tracking script sends it).",
        "unsupported_media_type",
    ),
}
# Any endpoint: a method it does not take, a format it does not give (only JSON), and,
# while its database cannot be reached, 503 (retry after Retry-After's seconds).
ANY_ENDPOINT = {
    500: _error("A fault of Cohort's; nothing was stored.", "server_error"),
    405: _error("The endpoint does not take this method.", "method_not_allowed"),
    406: _error(
        "The Accept header, or ?format=, asks for something other than JSON.", "not_acceptable"
    ),
    503: _error(
        "The database cannot be reached, or another change to the same records ran at the "
        "same moment; nothing was applied: retry after Retry-After.",
        "service_unavailable",
        "concurrent_change",
    ),
}
MESSAGE_ID_CONFLICT = _error(
    "The message_id was used by another call: a page visit (identify and page visits share "
    "a site's message ids), or a call with other ids or values; nothing was applied.",
    "message_id_conflict",
)


def _body(request) -> dict:
    if request.stream is None:  # no body, or one sent in chunks, which is not read
        raise ApplicationError(
            "malformed_body",
            "The request body is empty: send the JSON object with a Content-Length header "
            "(a body sent in chunks is not read).",
        )
    if not isinstance(request.data, dict):
        raise ApplicationError("malformed_body", "The request body must be a JSON object.")
    return request.data


REASONS_DOC = "\n".join(f"- `{code}`: {text}" for code, text in Reason.MESSAGES.items())


class IdentifyApi(PublicSiteAPIView):
    # Text that cannot be stored in an attribute's value rejects that attribute
    # (`invalid_string`), not the call.
    body_values_judged = "attributes"

    @extend_schema_serializer(component_name="Identify")
    class InputSerializer(serializers.Serializer):
        visitor_id = serializers.RegexField(
            ID_RE, help_text="The visitor's device id: 16-64 characters of A-Z a-z 0-9 _ -."
        )
        user_id = serializers.CharField(
            allow_null=True,
            required=False,
            max_length=MAX_USER_ID_LENGTH,
            help_text="Your user id (a string), or null (or left out) when the visitor is not "
            "known. Spaces around it are dropped.",
        )
        attributes = serializers.DictField(
            required=False,
            help_text=(
                f"Flat key → value object: numbers, strings, ISO-8601 date strings, booleans. "
                f"At most {MAX_ATTRIBUTES_PER_CALL} keys per call and {MAX_KEYS_PER_SITE} keys "
                f"per site; keys at most {MAX_KEY_LENGTH} characters; strings at most "
                f"{MAX_STRING_LENGTH} characters."
            ),
        )
        message_id = serializers.RegexField(
            ID_RE,
            required=False,
            allow_null=True,
            help_text="Unique per call (16-64 characters); a retry with the same id is "
            "acknowledged and not applied twice.",
        )

    @extend_schema_serializer(component_name="IdentifyResult")
    class OutputSerializer(serializers.Serializer):
        visitor_id = serializers.CharField()
        user_id = serializers.CharField(allow_null=True)
        stored = serializers.ListField(child=serializers.CharField())
        rejected = serializers.DictField(child=serializers.CharField())
        duplicate = serializers.BooleanField(
            required=False, help_text="Present and true when the message id was applied before."
        )

    @extend_schema(
        operation_id="identify",
        summary="Identify a visitor and store user attributes",
        description=(
            "The server side of `hj('identify', userId, attributes)`. Each key sent replaces "
            "its stored value; keys not sent keep theirs. Attributes that cannot be stored "
            "are listed under `rejected` with a reason, and the others are stored:\n\n"
            + REASONS_DOC
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: _error(
                "Malformed body.",
                "malformed_body",
                "invalid_visitor_id",
                "invalid_user_id",
                "invalid_message_id",
                "invalid_attributes",
                "bad_request",
            ),
            403: _error(
                "The call is refused; nothing is stored.",
                "user_attributes_disabled",
                "plan_not_eligible",
                "origin_not_allowed",
            ),
            404: _error("Unknown site key.", "unknown_site"),
            409: MESSAGE_ID_CONFLICT,
            429: _error("Too many requests; see the Retry-After header.", "throttled"),
            **BODY_ERRORS,
            **ANY_ENDPOINT,
        },
        examples=[
            OpenApiExample(
                "Paying customer",
                value={
                    "visitor_id": "3f2a9c0e5b7d41e8a6c4b2d0f9e8a7b6",
                    "user_id": "931493",
                    "attributes": {"total_spend": 500, "first_purchase": "2019-06-20Z"},
                    "message_id": "0d1f2e3c4b5a69788796a5b4c3d2e1f0",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Anonymous visitor",
                value={
                    "visitor_id": "3f2a9c0e5b7d41e8a6c4b2d0f9e8a7b6",
                    "user_id": None,
                    "attributes": {"ab_test": "variant-A", "referrer": "facebook_paid"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Partly rejected",
                value={
                    "visitor_id": "3f2a9c0e5b7d41e8a6c4b2d0f9e8a7b6",
                    "user_id": None,
                    "stored": ["ab_test"],
                    "rejected": {"email": "pii_without_user_id"},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, site_key: str):
        body = _body(request)
        attributes = body.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ApplicationError(
                "invalid_attributes", "attributes must be a flat JSON object of key → value."
            )
        result = visitor_identify(
            site=self.site,
            visitor_id=clean_client_id(body.get("visitor_id"), name="visitor_id"),
            user_id=clean_user_id(body.get("user_id")),
            attributes=attributes,
            message_id=clean_client_id(body.get("message_id"), name="message_id", required=False),
        )
        return Response(result)


class SessionApi(PublicSiteAPIView):
    @extend_schema_serializer(component_name="PageVisit")
    class InputSerializer(serializers.Serializer):
        visitor_id = serializers.RegexField(ID_RE)
        session_id = serializers.RegexField(
            ID_RE, help_text="16-64 characters; one per browsing session."
        )
        url = serializers.CharField(
            max_length=2000, help_text="The page's URL (at most 2000 characters)."
        )
        referrer = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        message_id = serializers.RegexField(ID_RE, required=False, allow_null=True)

    @extend_schema_serializer(component_name="PageVisitResult")
    class OutputSerializer(serializers.Serializer):
        session_id = serializers.CharField()
        page_count = serializers.IntegerField()
        duplicate = serializers.BooleanField(
            required=False, help_text="Present and true when the message id was applied before."
        )

    @extend_schema(
        operation_id="record_session",
        summary="Record a page visit",
        description=(
            "Opens a browsing session on its first page and counts the pages after it. "
            "Recorded whether or not User Attributes are enabled, so that a visitor's "
            "anonymous history exists to be joined to the user when they are identified."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: _error(
                "Malformed body.",
                "malformed_body",
                "invalid_visitor_id",
                "invalid_session_id",
                "invalid_url",
                "invalid_referrer",
                "bad_request",
            ),
            403: _error("Origin not allowed.", "origin_not_allowed"),
            404: _error("Unknown site key.", "unknown_site"),
            409: MESSAGE_ID_CONFLICT,
            429: _error("Too many requests.", "throttled"),
            **BODY_ERRORS,
            **ANY_ENDPOINT,
        },
    )
    def post(self, request, site_key: str):
        body = _body(request)
        result = session_record(
            site=self.site,
            visitor_id=clean_client_id(body.get("visitor_id"), name="visitor_id"),
            session_key=clean_client_id(body.get("session_id"), name="session_id"),
            url=body.get("url"),
            referrer=body.get("referrer", ""),
            message_id=clean_client_id(body.get("message_id"), name="message_id", required=False),
        )
        return Response(result)


class AttributeOutput(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField(source="value_type")
    value = serializers.JSONField()
    updated_at = serializers.DateTimeField()


class VisitorOutput(serializers.Serializer):
    visitor_id = serializers.CharField()
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class SessionOutput(serializers.Serializer):
    session_id = serializers.CharField(source="session_key")
    visitor_id = serializers.CharField(source="visitor.visitor_id")
    landing_url = serializers.CharField()
    last_url = serializers.CharField()
    referrer = serializers.CharField()
    page_count = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class FeedbackOutput(serializers.Serializer):
    widget_id = serializers.IntegerField()
    widget_name = serializers.CharField(source="widget.name")
    answers = serializers.DictField(help_text="Question id → answer, for polls.")
    emotion = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    email = serializers.CharField(help_text="Given with the consent to connect, else empty.")
    page_url = serializers.CharField()
    created_at = serializers.DateTimeField()


LISTED = (
    f"The profile's lists hold its first {LOOKUP_ROWS_PER_KIND} of each kind "
    "(devices first seen first, sessions and responses newest first); a deletion removes all."
)


@extend_schema_serializer(component_name="Person")
class ProfileOutput(serializers.Serializer):
    user_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    attributes = AttributeOutput(many=True, source="attribute_list")
    visitors = VisitorOutput(many=True, source="visitor_list")
    sessions = SessionOutput(many=True, source="session_list")
    responses = FeedbackOutput(many=True, source="response_list")
    visitors_total = serializers.IntegerField(
        source="visitor_total", help_text=f"All the profile's devices. {LISTED}"
    )
    sessions_total = serializers.IntegerField(
        source="session_total", help_text=f"All the profile's sessions. {LISTED}"
    )
    responses_total = serializers.IntegerField(
        source="response_total", help_text=f"All the profile's responses. {LISTED}"
    )


def _moment(value: datetime, zone) -> str:
    """A datetime as `serializers.DateTimeField` writes it: ISO 8601 in the current time
    zone, `Z` for UTC."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def response_output(r: WidgetResponse, zone: tzinfo) -> dict:
    """`FeedbackOutput(r).data`, by hand as `person_output`."""
    return {
        "widget_id": r.widget_id,
        "widget_name": r.widget.name,
        "answers": {str(key): answer for key, answer in r.answers.items()},
        "emotion": r.emotion,
        "comment": r.comment,
        "email": r.email,
        "page_url": r.page_url,
        "created_at": _moment(r.created_at, zone),
    }


def person_output(profile: Profile) -> dict:
    """`ProfileOutput(profile).data` written out by hand: a person has dozens of rows, and
    the serializers' per-field work was most of a lookup's time. The serializers stay the
    documented shape, and a test holds the two equal."""
    zone = timezone.get_current_timezone()
    return {
        "user_id": profile.user_id,
        "created_at": _moment(profile.created_at, zone),
        "updated_at": _moment(profile.updated_at, zone),
        "attributes": [
            {
                "key": a.key,
                "type": a.value_type,
                "value": a.value,
                "updated_at": _moment(a.updated_at, zone),
            }
            for a in profile.attribute_list
        ],
        "visitors": [
            {
                "visitor_id": v.visitor_id,
                "first_seen_at": _moment(v.first_seen_at, zone),
                "last_seen_at": _moment(v.last_seen_at, zone),
            }
            for v in profile.visitor_list
        ],
        "sessions": [
            {
                "session_id": s.session_key,
                "visitor_id": s.visitor.visitor_id,
                "landing_url": s.landing_url,
                "last_url": s.last_url,
                "referrer": s.referrer,
                "page_count": s.page_count,
                "started_at": _moment(s.started_at, zone),
                "last_seen_at": _moment(s.last_seen_at, zone),
            }
            for s in profile.session_list
        ],
        "responses": [response_output(r, zone) for r in profile.response_list],
        "visitors_total": profile.visitor_total,
        "sessions_total": profile.session_total,
        "responses_total": profile.response_total,
    }


LOOKUP_PARAMETERS = [
    OpenApiParameter("user_id", str, description="The user id sent to identify."),
    OpenApiParameter(
        "email",
        str,
        description="An email address, case-insensitive: matches the `email` attribute, "
        "a user id that is this address in any letter case, and an anonymous visitor who "
        "gave it with a feedback response and the consent to connect it (given on an "
        "identified user's device, it finds the answers alone: `email_responses`); an "
        "internationalised domain matches in either spelling (müller.de, xn--mller-kva.de).",
    ),
]


LOOKUP_ERRORS = {
    400: _error(
        "No or bad search terms, or too many parameters.",
        "lookup_terms_required",
        "invalid_lookup_terms",
        "bad_request",
    ),
    401: _error("Missing or invalid token.", "not_authenticated", "authentication_failed"),
    404: _error("The site is not one of the token's account.", "unknown_site"),
    429: _error(
        "Too many calls with this token, or with tokens that are not good from this address.",
        "throttled",
    ),
    **ANY_ENDPOINT,
}


class LookupApi(AccountTokenAPIView):
    """Visitor Lookup and deletion for privacy requests. Give the user id and the email
    together when you know both: that is the only way to find everything about a person."""

    @extend_schema_serializer(component_name="LookupResult")
    class OutputSerializer(serializers.Serializer):
        site_key = serializers.CharField()
        profiles = ProfileOutput(many=True)
        email_responses = FeedbackOutput(
            many=True,
            help_text="Answers given with the email searched for (and the consent to connect "
            "it) on a device of an identified user the search did not find: the person's, "
            "without the rest of that user's profile. The newest "
            f"{LOOKUP_ROWS_PER_KIND}; a deletion removes them all.",
        )
        email_responses_total = serializers.IntegerField()

    @extend_schema_serializer(component_name="DeletionResult")
    class DeleteOutputSerializer(serializers.Serializer):
        deleted = serializers.DictField(child=serializers.IntegerField())
        audit_id = serializers.IntegerField()

    def _terms(self, request) -> tuple[str | None, str | None]:
        """The search terms, each given at most once: of `?user_id=a&user_id=b` a query
        dictionary keeps only `b`, and a deletion would answer as done with `a` kept."""
        terms = []
        for name in ("user_id", "email"):
            given = request.query_params.getlist(name)
            if len(given) > 1:
                raise ApplicationError(
                    "invalid_lookup_terms",
                    f"Give {name} at most once: look up or delete each person with a call "
                    "of their own.",
                )
            terms.append(given[0] if given else None)
        return terms[0], terms[1]

    @extend_schema(
        operation_id="visitor_lookup",
        summary="Look up everything stored about a person",
        parameters=LOOKUP_PARAMETERS,
        responses={200: OutputSerializer, **LOOKUP_ERRORS},
    )
    def get(self, request, site_key: str):
        user_id, email = self._terms(request)
        found = person_lookup_record(
            site=self.site,
            user_id=user_id,
            email=email,
            requested_by=request.user,
            channel=PrivacyAudit.Channel.API,
        )
        zone = timezone.get_current_timezone()
        return Response(
            {
                "site_key": self.site.key,
                "profiles": [person_output(person) for person in found.people],
                "email_responses": [response_output(r, zone) for r in found.email_responses],
                "email_responses_total": found.email_responses_total,
            }
        )

    @extend_schema(
        operation_id="visitor_delete",
        summary="Delete everything stored about a person",
        parameters=LOOKUP_PARAMETERS,
        responses={
            200: DeleteOutputSerializer,
            **LOOKUP_ERRORS,
            403: _error("Only owners and admins delete.", "permission_denied"),
        },
    )
    def delete(self, request, site_key: str):
        self.require_role(Membership.Role.ADMIN)
        user_id, email = self._terms(request)
        audit = person_delete(
            site=self.site,
            user_id=user_id,
            email=email,
            requested_by=request.user,
            channel=PrivacyAudit.Channel.API,
        )
        return Response({"deleted": audit.deleted_counts, "audit_id": audit.pk})
