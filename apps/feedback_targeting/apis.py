"""Public endpoints the tracking script calls to show widgets and send answers."""

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.common.api import PublicSiteAPIView
from apps.feedback_targeting.selectors import LiveWidget, widget_decision
from apps.feedback_targeting.services import ResponseInput, response_submit
from apps.identity.apis import ANY_ENDPOINT, BODY_ERRORS, _body, _error
from apps.user_attributes.validation import ID_RE, clean_client_id


class WidgetsApi(PublicSiteAPIView):
    cors_methods = "GET, OPTIONS"

    @extend_schema_serializer(component_name="WidgetList")
    class OutputSerializer(serializers.Serializer):
        widgets = serializers.ListField(
            child=serializers.DictField(),
            help_text="Each widget: id, kind (poll | feedback), language (of the widget's "
            "own words: en, de, es, fr, it or nl), questions (id, kind, text, choices, "
            "required), thank_you_message, and emotions (value, label in the widget's "
            "language) for feedback.",
        )

    @extend_schema(
        operation_id="widgets_for_visitor",
        summary="The widgets this visitor should see now",
        description="Active Polls and Incoming Feedback widgets whose targeting matches the "
        "visitor now and whose page condition matches `url`; polls the visitor already "
        "answered are left out.",
        parameters=[
            OpenApiParameter("visitor_id", str, required=True, pattern=ID_RE.pattern),
            OpenApiParameter("url", str, description="The page the visitor is on."),
        ],
        responses={
            200: OutputSerializer,
            400: _error(
                "Bad visitor id, or too many parameters.", "invalid_visitor_id", "bad_request"
            ),
            403: _error("Origin not allowed.", "origin_not_allowed"),
            404: _error("Unknown site key.", "unknown_site"),
            429: _error("Too many requests.", "throttled"),
            **ANY_ENDPOINT,
        },
    )
    def get(self, request, site_key: str):
        widgets = self._decision(request.query_params)
        if request.accepted_media_type != JSONRenderer.media_type:  # e.g. "; indent=4"
            return Response({"widgets": [w.payload for w in widgets]})
        return _widgets_json(widgets)

    def get_plain(self, query):
        """The tracking script's request (PublicSiteAPIView)."""
        return _widgets_json(self._decision(query))

    def _decision(self, query) -> list[LiveWidget]:
        return widget_decision(
            site=self.site,
            visitor_id=clean_client_id(query.get("visitor_id"), name="visitor_id"),
            url=query.get("url", "")[:2000],
            now=timezone.now(),
        )


def _widgets_json(widgets: list[LiveWidget]) -> HttpResponse:
    """The bytes the JSON renderer would write, from payloads rendered once per change."""
    body = b'{"widgets":[' + b",".join(w.payload_json for w in widgets) + b"]}"
    return HttpResponse(body, content_type=JSONRenderer.media_type)


class ResponseApi(PublicSiteAPIView):
    """A visitor's answer to a poll or an Incoming Feedback widget. The answer must be one
    the widget may get from this visitor now (active, targeted at them, a poll not answered
    before); an email is accepted only with `consent_to_connect`. An `answer_id` makes a retry
    safe: the same answer sent again is stored once."""

    @extend_schema_serializer(component_name="WidgetAnswer")
    class InputSerializer(serializers.Serializer):
        visitor_id = serializers.RegexField(ID_RE)
        answers = serializers.DictField(
            required=False, help_text="Polls: question id → answer (choice, [choices], 1-5, text)."
        )
        emotion = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=5,
            help_text="Incoming Feedback: 1 (hate) to 5 (love).",
        )
        comment = serializers.CharField(required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        consent_to_connect = serializers.BooleanField(
            required=False,
            help_text="An email is accepted only with true: the visitor agrees that this "
            "feedback is connected to their email (and so found by Visitor Lookup). An "
            "email without it refuses the answer with 400 consent_required; leave the email "
            "out (or empty) to answer without one.",
        )
        url = serializers.CharField(
            required=False,
            allow_blank=True,
            allow_null=True,
            help_text="The page the answer was given on (kept to 2000 characters); a widget "
            "shown only on some pages takes answers only from them. A value that is not a "
            "string (null aside: no page) is refused with 400 invalid_url.",
        )
        answer_id = serializers.RegexField(
            ID_RE,
            required=False,
            help_text="The sender's id for this answer (16 to 64 characters of A-Z, a-z, "
            "0-9, _ and -). An answer sent again with the same id is not stored twice: "
            "it gets the first one's result with duplicate true. The same id sent with "
            "another answer (answers changed or added, another emotion, comment or email) is "
            "refused with 409 answer_id_conflict.",
        )

    @extend_schema_serializer(component_name="WidgetAnswerResult")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        thank_you_message = serializers.CharField()
        duplicate = serializers.BooleanField(
            required=False, help_text="Present (true) when the answer_id was stored before."
        )

    @extend_schema(
        operation_id="widget_response",
        summary="Send a visitor's answer",
        request=InputSerializer,
        responses={
            200: OpenApiResponse(OutputSerializer, description="Stored before: a retry."),
            201: OutputSerializer,
            400: _error(
                "The answer cannot be stored.",
                "malformed_body",
                "invalid_visitor_id",
                "invalid_answer_id",
                "invalid_url",
                "answer_required",
                "invalid_answer",
                "invalid_emotion",
                "invalid_comment",
                "invalid_email",
                "consent_required",
                "bad_request",
            ),
            403: _error("Not for this visitor.", "not_targeted", "origin_not_allowed"),
            404: _error("Unknown site or widget.", "unknown_site", "unknown_widget"),
            409: _error(
                "Not accepted now.", "widget_inactive", "already_answered", "answer_id_conflict"
            ),
            429: _error("Too many requests.", "throttled"),
            **BODY_ERRORS,
            **ANY_ENDPOINT,
        },
    )
    def post(self, request, site_key: str, widget_id: int):
        body = _body(request)
        submitted = response_submit(
            site=self.site,
            widget_id=widget_id,
            visitor_id=clean_client_id(body.get("visitor_id"), name="visitor_id"),
            data=ResponseInput(
                answers=body.get("answers", {}),
                emotion=body.get("emotion"),
                comment=body.get("comment", ""),
                email=body.get("email", "") or "",
                consent_to_connect=body.get("consent_to_connect", False),
                page_url=body.get("url", ""),
                answer_id=clean_client_id(body.get("answer_id"), name="answer_id", required=False),
            ),
        )
        result = {
            "id": submitted.response.pk,
            "thank_you_message": submitted.response.widget.thank_you_message,
        }
        if submitted.duplicate:
            return Response({**result, "duplicate": True}, status=200)
        return Response(result, status=201)
