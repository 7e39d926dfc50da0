"""The public widget API through HTTP: which widgets a visitor sees, and their answers.

GET  /api/v1/sites/{site_key}/widgets?visitor_id=...&url=...
POST /api/v1/sites/{site_key}/widgets/{widget_id}/responses

Every test has two tenants: `site` (Radbooks) and `other_site` (Other Co).
"""

import pytest
from django.test import override_settings

from apps.common.api import PublicSiteAPIView
from apps.consent.services import user_attributes_disable
from apps.feedback_targeting import services
from apps.feedback_targeting.models import Response, Widget
from apps.feedback_targeting.services import (
    QuestionSpec,
    widget_activate,
    widget_pause,
    widget_save,
)
from apps.identity.models import PrivacyAudit, Profile, Visitor
from apps.identity.selectors import email_responses, profiles_matching
from apps.identity.services import person_delete
from tests.clock import clear_of_minute_end
from tests.feedback_targeting.factories import questions_saved, specs_of

TABLET = "tablet123tablet123tablet123aaaaa"
MOBILE = "mobile456mobile456mobile456bbbbb"
STRANGER = "stranger0stranger0stranger00000"
EVERYONE = {"match": "all", "conditions": []}
PAYING_FOR_10_DAYS = {
    "match": "all",
    "conditions": [
        {"type": "number", "key": "total_spend", "op": "gt", "value": 0},
        {"type": "date", "key": "first_purchase", "op": "more_than_days_ago", "value": 10},
    ],
}
RACHEL = {"total_spend": 500, "first_purchase": "2019-06-20Z"}
QUESTIONS = [
    QuestionSpec(kind="rating", text="How happy are you?"),
    QuestionSpec(kind="single", text="Improve first?", choices=("Delivery", "Prices")),
    QuestionSpec(
        kind="multiple", text="Genres?", choices=("Fiction", "History", "Poetry"), required=False
    ),
    QuestionSpec(kind="text", text="Anything else?", required=False),
]


def make_poll(site, targeting=PAYING_FOR_10_DAYS, name="Paying customers", active=True, **extra):
    widget = widget_save(
        site=site,
        kind=Widget.Kind.POLL,
        name=name,
        targeting=targeting,
        questions=QUESTIONS,
        thank_you_message="Thanks!",
        **extra,
    )
    return widget_activate(widget=widget) if active else widget


def make_feedback(site, targeting=EVERYONE, name="Feedback tab", **extra):
    widget = widget_save(
        site=site,
        kind=Widget.Kind.FEEDBACK,
        name=name,
        targeting=targeting,
        questions=[],
        **extra,
    )
    return widget_activate(widget=widget)


def identify(client, site, visitor_id, user_id, attributes):
    response = client.post(
        f"/api/v1/sites/{site.key}/identify",
        {"visitor_id": visitor_id, "user_id": user_id, "attributes": attributes},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()


def offered(client, site, visitor_id=TABLET, url="https://shop.example.com/books", **headers):
    return client.get(
        f"/api/v1/sites/{site.key}/widgets", {"visitor_id": visitor_id, "url": url}, **headers
    )


def offered_ids(client, site, visitor_id=TABLET, url="https://shop.example.com/books"):
    response = offered(client, site, visitor_id, url)
    assert response.status_code == 200, response.json()
    return [w["id"] for w in response.json()["widgets"]]


def answer(client, site, widget, visitor_id=TABLET, **body):
    return client.post(
        f"/api/v1/sites/{site.key}/widgets/{widget.pk}/responses",
        {"visitor_id": visitor_id, **body},
        format="json",
    )


def question_ids(widget):
    return [str(q.pk) for q in widget.questions.all()]


def good_answers(widget, **overrides):
    rating, single, _multiple, _text = question_ids(widget)
    return {rating: 4, single: "Prices", **overrides}


class TestDecision:
    def test_a_matching_visitor_gets_the_poll_as_the_script_renders_it(self, api_client, site):
        poll = make_poll(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)

        response = offered(api_client, site)

        assert response.status_code == 200
        rating, single, multiple, text = poll.questions.all()
        assert response.json() == {
            "widgets": [
                {
                    "id": poll.pk,
                    "kind": "poll",
                    "language": "en",
                    "thank_you_message": "Thanks!",
                    "questions": [
                        {
                            "id": rating.pk,
                            "kind": "rating",
                            "text": "How happy are you?",
                            "choices": [],
                            "required": True,
                        },
                        {
                            "id": single.pk,
                            "kind": "single",
                            "text": "Improve first?",
                            "choices": ["Delivery", "Prices"],
                            "required": True,
                        },
                        {
                            "id": multiple.pk,
                            "kind": "multiple",
                            "text": "Genres?",
                            "choices": ["Fiction", "History", "Poetry"],
                            "required": False,
                        },
                        {
                            "id": text.pk,
                            "kind": "text",
                            "text": "Anything else?",
                            "choices": [],
                            "required": False,
                        },
                    ],
                }
            ]
        }

    def test_a_feedback_widget_comes_with_the_emotion_scale(self, api_client, site):
        feedback = make_feedback(site, thank_you_message="Merci")

        [widget] = offered(api_client, site).json()["widgets"]

        assert widget == {
            "id": feedback.pk,
            "kind": "feedback",
            "language": "en",
            "thank_you_message": "Merci",
            "questions": [],
            "emotions": [
                {"value": 1, "label": "Hate"},
                {"value": 2, "label": "Dislike"},
                {"value": 3, "label": "Neutral"},
                {"value": 4, "label": "Like"},
                {"value": 5, "label": "Love"},
            ],
        }

    @pytest.mark.parametrize(
        "attributes",
        [
            {"total_spend": 0, "first_purchase": "2019-06-20Z"},
            {"total_spend": 500},
            {"total_spend": 500, "first_purchase": "2099-01-01Z"},
            {"total_spend": "500", "first_purchase": "2019-06-20Z"},  # a string, not a number
        ],
    )
    def test_a_visitor_who_does_not_match_gets_nothing(self, api_client, site, attributes):
        make_poll(site)
        identify(api_client, site, TABLET, "XYZ", attributes)

        assert offered_ids(api_client, site) == []

    def test_an_anonymous_or_unknown_visitor_gets_only_untargeted_widgets(self, api_client, site):
        make_poll(site)
        identified_only = make_poll(
            site,
            {"match": "all", "conditions": [{"type": "visitor", "op": "identified"}]},
            name="Identified visitors",
        )
        anonymous_only = make_feedback(
            site, {"match": "all", "conditions": [{"type": "visitor", "op": "anonymous"}]}
        )
        identify(api_client, site, TABLET, None, {"ab_test": "A"})

        assert offered_ids(api_client, site, TABLET) == [anonymous_only.pk]
        assert offered_ids(api_client, site, STRANGER) == [anonymous_only.pk]
        assert not Visitor.objects.filter(visitor_id=STRANGER).exists()  # asking stores nothing

        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert sorted(offered_ids(api_client, site, TABLET)) == sorted(
            [Widget.objects.get(name="Paying customers").pk, identified_only.pk]
        )

    def test_a_poll_answered_is_left_out_and_feedback_stays(self, api_client, site):
        poll = make_poll(site)
        feedback = make_feedback(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert offered_ids(api_client, site) == [poll.pk, feedback.pk]

        assert answer(api_client, site, poll, answers=good_answers(poll)).status_code == 201
        assert answer(api_client, site, feedback, emotion=4).status_code == 201

        assert offered_ids(api_client, site) == [feedback.pk]

    def test_url_contains_limits_the_pages(self, api_client, site):
        checkout = make_feedback(site, url_contains="/checkout")
        everywhere = make_feedback(site, name="Everywhere")

        assert offered_ids(api_client, site, url="https://shop.example.com/books") == [
            everywhere.pk
        ]
        assert offered_ids(api_client, site, url="https://shop.example.com/checkout/pay") == [
            checkout.pk,
            everywhere.pk,
        ]
        assert offered_ids(api_client, site, url="") == [everywhere.pk]

    def test_a_page_condition_matches_the_address_as_browsers_encode_it(self, api_client, site):
        about = make_feedback(site, url_contains="/über-uns")
        spaced = make_feedback(site, name="Spaced", url_contains="/gift cards")
        encoded = make_feedback(site, name="Encoded", url_contains="/%C3%BCber-uns")

        sent = "https://shop.example.de/%C3%BCber-uns?ref=a"
        assert offered_ids(api_client, site, url=sent) == [about.pk, encoded.pk]
        assert offered_ids(api_client, site, url="https://shop.example.de/über-uns") == [
            about.pk,
            encoded.pk,
        ]
        assert offered_ids(api_client, site, url="https://shop.example.de/gift%20cards") == [
            spaced.pk
        ]
        assert answer(api_client, site, about, emotion=5, url=sent).status_code == 201

    def test_draft_paused_and_disabled_widgets_are_not_shown(self, api_client, site, owner):
        make_poll(site, EVERYONE, name="draft", active=False)
        widget_pause(widget=make_poll(site, EVERYONE, name="paused"))
        make_poll(site, name="disabled")
        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert offered_ids(api_client, site) == [Widget.objects.get(name="disabled").pk]

        user_attributes_disable(site=site, user=owner, client_ip=None)

        assert Widget.objects.get(name="disabled").status == Widget.Status.DISABLED
        assert offered_ids(api_client, site) == []

    def test_another_sites_widgets_are_never_shown(self, api_client, site, other_site):
        ours = make_feedback(site)
        theirs = make_feedback(other_site)
        make_poll(other_site, EVERYONE)
        identify(api_client, site, TABLET, "ABC", RACHEL)

        assert offered_ids(api_client, site) == [ours.pk]
        # The same device id on the other site is another visitor of another tenant
        assert offered_ids(api_client, other_site)[0] == theirs.pk
        assert len(offered_ids(api_client, other_site)) == 2
        assert not Visitor.objects.filter(site=other_site).exists()

    def test_ten_active_widgets_are_decided_in_a_few_queries(
        self, api_client, site, django_assert_num_queries
    ):
        for number in range(5):
            make_poll(site, name=f"poll {number}")
            make_feedback(site, name=f"feedback {number}")
        identify(api_client, site, TABLET, "ABC", RACHEL)
        answer(api_client, site, Widget.objects.get(name="poll 0"), answers={})

        # Widgets and their questions (then kept; the site is kept since the identify
        # call), and the visitor with its attributes and answers in one statement; then
        # only that statement
        with django_assert_num_queries(3):
            first = offered_ids(api_client, site)
        with django_assert_num_queries(1):
            again = offered_ids(api_client, site)

        assert len(first) == 10
        assert again == first

    def test_the_decision_is_refreshed_when_a_widget_changes(self, api_client, site):
        feedback = make_feedback(site)
        assert offered_ids(api_client, site) == [feedback.pk]

        widget_pause(widget=feedback)

        assert offered_ids(api_client, site) == []

    @pytest.mark.parametrize("visitor_id", ["", "short", "x" * 65, "with space in it 0000"])
    def test_a_bad_visitor_id_is_refused(self, api_client, site, visitor_id):
        response = offered(api_client, site, visitor_id)

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_visitor_id"

    def test_unknown_site_and_foreign_origins_are_refused(self, api_client, site):
        response = api_client.get("/api/v1/sites/nope/widgets", {"visitor_id": TABLET})
        assert (response.status_code, response.json()["code"]) == (404, "unknown_site")

        foreign = offered(api_client, site, HTTP_ORIGIN="https://evil.example.com")
        assert (foreign.status_code, foreign.json()["code"]) == (403, "origin_not_allowed")

        allowed = offered(api_client, site, HTTP_ORIGIN="https://shop.example.com")
        assert allowed.status_code == 200
        assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert allowed["Access-Control-Allow-Methods"] == "GET, OPTIONS"


# The tracking script's request (no Accept header) is answered without DRF's request
# handling; a client that negotiates goes through DRF. Both must answer alike.
PLAIN = {}
NEGOTIATED = {"HTTP_ACCEPT": "application/json, text/plain"}
SHOP = "https://shop.example.com"


def answered_as(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
    return response.status_code, response.content, headers


@pytest.fixture
def drf_requests(monkeypatch):
    """The paths of the requests that went through DRF's request wrapping."""
    wrapped = []
    initialize = PublicSiteAPIView.initialize_request

    def initialize_request(view, request, *args, **kwargs):
        wrapped.append(request.path)
        return initialize(view, request, *args, **kwargs)

    monkeypatch.setattr(PublicSiteAPIView, "initialize_request", initialize_request)
    return wrapped


class TestPlainRequests:
    @pytest.mark.parametrize(
        ("site_key", "visitor_id", "origin", "code"),
        [
            (None, TABLET, SHOP, None),
            (None, TABLET, None, None),
            (None, "bad", SHOP, "invalid_visitor_id"),
            (None, TABLET, "https://evil.example.com", "origin_not_allowed"),
            ("nope", TABLET, SHOP, "unknown_site"),
        ],
        ids=["decision", "from-a-back-end", "bad-visitor-id", "foreign-origin", "unknown-site"],
    )
    def test_the_scripts_request_is_answered_as_a_negotiated_one(
        self, api_client, site, site_key, visitor_id, origin, code
    ):
        make_poll(site)
        make_feedback(site)
        identify(api_client, site, TABLET, "rachel", RACHEL)
        url = f"/api/v1/sites/{site_key or site.key}/widgets"
        query = {"visitor_id": visitor_id, "url": "https://shop.example.com/books"}
        headers = {"HTTP_ORIGIN": origin} if origin else {}

        plain = api_client.get(url, query, **headers, **PLAIN)
        negotiated = api_client.get(url, query, **headers, **NEGOTIATED)

        assert answered_as(plain) == answered_as(negotiated)
        assert plain["Content-Type"] == "application/json"
        assert "Origin" in plain["Vary"]
        if code is None:
            assert len(plain.json()["widgets"]) == 2
        else:
            assert plain.json()["code"] == code
        assert plain.has_header("Access-Control-Allow-Origin") == (origin == SHOP and not site_key)

    @override_settings(COHORT_THROTTLE_PER_CLIENT="1/min")
    def test_a_throttled_script_request_gets_429_readable_by_the_page(self, api_client, site):
        clear_of_minute_end()
        make_feedback(site)
        assert offered(api_client, site, HTTP_ORIGIN=SHOP).status_code == 200

        plain = offered(api_client, site, HTTP_ORIGIN=SHOP)
        negotiated = offered(api_client, site, HTTP_ORIGIN=SHOP, **NEGOTIATED)

        for response in (plain, negotiated):
            assert response.status_code == 429
            assert response.json()["code"] == "throttled"
            assert 1 <= int(response["Retry-After"]) <= 60
            assert response["Access-Control-Allow-Origin"] == SHOP

    @pytest.mark.parametrize("debug", [False, True], ids=["production", "make-run"])
    def test_a_request_with_too_many_parameters_answers_json_on_both_paths(
        self, api_client, site, settings, debug
    ):
        """With DEBUG on (make run), Django's debug page read the parameters again and
        failed with a plain-text 500: the API answers the refusal itself."""
        settings.DEBUG = debug
        path = f"/api/v1/sites/{site.key}/widgets"
        crowd = {"visitor_id": TABLET, **{f"p{i}": "1" for i in range(1001)}}

        plain = api_client.get(path, crowd)
        negotiated = api_client.get(path, crowd, **NEGOTIATED)

        assert plain.status_code == negotiated.status_code == 400
        assert plain.json()["code"] == negotiated.json()["code"] == "bad_request"
        assert plain.json()["message"]

    def test_an_unexpected_failure_answers_the_json_500_on_both_paths(
        self, api_client, site, monkeypatch
    ):
        def fail(**kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("apps.feedback_targeting.apis.widget_decision", fail)
        api_client.raise_request_exception = False

        plain = offered(api_client, site, HTTP_ORIGIN=SHOP)
        negotiated = offered(api_client, site, HTTP_ORIGIN=SHOP, **NEGOTIATED)

        assert plain.status_code == negotiated.status_code == 500
        assert plain.json() == negotiated.json()
        assert plain.json()["code"] == "server_error"

    @override_settings(DEBUG=True)
    def test_in_development_an_unexpected_failure_is_raised_as_itself(
        self, api_client, site, monkeypatch
    ):
        def fail(**kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("apps.feedback_targeting.apis.widget_decision", fail)

        with pytest.raises(RuntimeError, match="a bug"):
            offered(api_client, site)

    def test_only_the_scripts_successful_request_skips_drf(self, api_client, site, drf_requests):
        make_feedback(site)
        path = f"/api/v1/sites/{site.key}/widgets"

        assert offered(api_client, site).status_code == 200
        assert offered(api_client, site, HTTP_ACCEPT="*/*").status_code == 200
        assert offered(api_client, site, HTTP_ACCEPT="application/json").status_code == 200
        assert drf_requests == []

        # A negotiated request, the `format` parameter and an error go through DRF
        assert offered(api_client, site, **NEGOTIATED).status_code == 200
        indented = offered(api_client, site, HTTP_ACCEPT="application/json; indent=4")
        assert indented.content.startswith(b'{\n    "widgets": [')
        formatted = api_client.get(path, {"visitor_id": TABLET, "format": "json"})
        assert formatted.status_code == 200
        assert offered(api_client, site, visitor_id="bad").status_code == 400
        assert drf_requests == [path] * 4


class TestResponses:
    def test_a_poll_answer_is_stored_against_the_visitor_and_profile(self, api_client, site):
        poll = make_poll(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        rating, single, multiple, text = question_ids(poll)

        response = answer(
            api_client,
            site,
            poll,
            answers={
                rating: 5,
                single: "Delivery",
                multiple: ["Poetry", "Fiction"],
                text: "  More poetry.  ",
            },
            email=" Rachel@Example.com ",
            consent_to_connect=True,
            url="https://shop.example.com/books",
        )

        assert response.status_code == 201
        stored = Response.objects.get(site=site)
        assert response.json() == {"id": stored.pk, "thank_you_message": "Thanks!"}
        assert stored.answers == {
            rating: 5,
            single: "Delivery",
            multiple: ["Fiction", "Poetry"],  # in the order of the choices
            text: "More poetry.",
        }
        assert (stored.email, stored.consent_to_connect) == ("rachel@example.com", True)
        assert stored.page_url == "https://shop.example.com/books"
        assert stored.visitor == Visitor.objects.get(site=site, visitor_id=TABLET)
        assert stored.profile == Profile.objects.get(site=site, user_id="ABC")

    def test_feedback_is_stored_with_emotion_and_comment(self, api_client, site):
        feedback = make_feedback(site)

        response = answer(api_client, site, feedback, emotion=2, comment=" Slow search ")

        assert response.status_code == 201
        stored = Response.objects.get(site=site)
        assert (stored.emotion, stored.comment, stored.answers) == (2, "Slow search", {})
        assert (stored.email, stored.consent_to_connect) == ("", False)
        # A visitor never seen before gets an anonymous profile to hold the answer
        visitor = Visitor.objects.get(site=site, visitor_id=TABLET)
        assert stored.profile == visitor.profile
        assert visitor.profile.user_id is None

    @pytest.mark.parametrize(
        "email", ["O'Brien@example.com", "josé.núñez@example.es", "info@müller.de", "a+b@x.io"]
    )
    def test_any_address_the_widget_accepts_is_kept_with_consent(self, api_client, site, email):
        feedback = make_feedback(site)

        response = answer(
            api_client, site, feedback, emotion=4, email=email, consent_to_connect=True
        )

        assert response.status_code == 201
        stored = Response.objects.get(site=site)
        assert (stored.email, stored.consent_to_connect) == (email.lower(), True)

    def test_blanks_alone_are_no_answer_to_a_text_question(self, api_client, site):
        poll = widget_activate(
            widget=widget_save(
                site=site,
                kind=Widget.Kind.POLL,
                name="Words",
                targeting=EVERYONE,
                questions=[
                    QuestionSpec(kind="text", text="Why?"),
                    QuestionSpec(kind="text", text="Anything else?", required=False),
                ],
            )
        )
        why, other = question_ids(poll)

        refused = answer(api_client, site, poll, answers={why: " \n\t ", other: "x"})
        stored = answer(api_client, site, poll, answers={why: "  Speed.\n", other: "   "})

        assert refused.status_code == 400
        assert refused.json()["code"] == "answer_required"
        assert stored.status_code == 201
        assert Response.objects.get(site=site).answers == {why: "Speed."}

    def test_consent_without_an_email_keeps_nothing_to_connect(self, api_client, site):
        feedback = make_feedback(site)

        response = answer(api_client, site, feedback, emotion=3, email="", consent_to_connect=True)

        assert response.status_code == 201
        stored = Response.objects.get(site=site)
        assert (stored.email, stored.consent_to_connect) == ("", False)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"answers": {}}, "answer_required"),
            ({"answers": {"rating": 4, "single": None}}, "answer_required"),
            ({"answers": {"rating": 4, "single": ""}}, "answer_required"),
            ({"answers": "4"}, "invalid_answer"),
            ({"answers": {"rating": 6, "single": "Prices"}}, "invalid_answer"),
            ({"answers": {"rating": True, "single": "Prices"}}, "invalid_answer"),
            ({"answers": {"rating": "4", "single": "Prices"}}, "invalid_answer"),
            ({"answers": {"rating": 4, "single": "Free books"}}, "invalid_answer"),
            ({"answers": {"rating": 4, "single": ["Prices"]}}, "invalid_answer"),
            (
                {"answers": {"rating": 4, "single": "Prices", "multiple": "Poetry"}},
                "invalid_answer",
            ),
            (
                {"answers": {"rating": 4, "single": "Prices", "multiple": ["Comics"]}},
                "invalid_answer",
            ),
            (
                {"answers": {"rating": 4, "single": "Prices", "multiple": [{"a": 1}]}},
                "invalid_answer",
            ),
            ({"answers": {"rating": 4, "single": "Prices", "text": 7}}, "invalid_answer"),
            (
                {"answers": {"rating": 4, "single": "Prices", "text": "x" * 2001}},
                "invalid_answer",
            ),
            ({"email": "not-an-email", "consent_to_connect": True}, "invalid_email"),
            ({"email": 5, "consent_to_connect": True}, "invalid_email"),
            ({"email": ["a@example.com"], "consent_to_connect": True}, "invalid_email"),
            ({"email": "a" * 243 + "@example.com", "consent_to_connect": True}, "invalid_email"),
            ({"email": "rachel@example.com"}, "consent_required"),
            ({"email": "rachel@example.com", "consent_to_connect": False}, "consent_required"),
            ({"email": "rachel@example.com", "consent_to_connect": "true"}, "consent_required"),
            ({"visitor_id": "bad"}, "invalid_visitor_id"),
        ],
    )
    def test_a_bad_poll_answer_is_refused_with_a_code(self, api_client, site, body, code):
        poll = make_poll(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        names = dict(zip(["rating", "single", "multiple", "text"], question_ids(poll), strict=True))
        body = dict(body)
        if isinstance(body.get("answers"), dict):
            body["answers"] = {names[key]: value for key, value in body["answers"].items()}
        else:
            body.setdefault("answers", {names["rating"]: 4, names["single"]: "Prices"})

        response = answer(api_client, site, poll, **body)

        assert response.status_code == 400
        assert response.json()["code"] == code
        assert response.json()["message"]
        assert not Response.objects.exists()

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({}, "invalid_emotion"),
            ({"emotion": 0}, "invalid_emotion"),
            ({"emotion": 6}, "invalid_emotion"),
            ({"emotion": "5"}, "invalid_emotion"),
            ({"emotion": True}, "invalid_emotion"),
            ({"emotion": 5, "comment": 7}, "invalid_comment"),
            ({"emotion": 5, "comment": "x" * 2001}, "invalid_comment"),
        ],
    )
    def test_a_bad_feedback_answer_is_refused_with_a_code(self, api_client, site, body, code):
        feedback = make_feedback(site)

        response = answer(api_client, site, feedback, **body)

        assert (response.status_code, response.json()["code"]) == (400, code)
        assert not Response.objects.exists()
        assert not Visitor.objects.exists()

    def test_a_body_that_is_not_an_object_is_refused(self, api_client, site):
        feedback = make_feedback(site)

        response = api_client.post(
            f"/api/v1/sites/{site.key}/widgets/{feedback.pk}/responses", [1], format="json"
        )

        assert (response.status_code, response.json()["code"]) == (400, "malformed_body")

    def test_a_poll_is_answered_once_per_visitor_feedback_many_times(self, api_client, site):
        poll = make_poll(site)
        feedback = make_feedback(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)

        assert answer(api_client, site, poll, answers=good_answers(poll)).status_code == 201
        again = answer(api_client, site, poll, answers=good_answers(poll))
        assert answer(api_client, site, feedback, emotion=5).status_code == 201
        assert answer(api_client, site, feedback, emotion=1).status_code == 201

        assert (again.status_code, again.json()["code"]) == (409, "already_answered")
        assert Response.objects.filter(widget=poll).count() == 1
        assert Response.objects.filter(widget=feedback).count() == 2

    def test_a_person_answers_a_poll_once_whatever_the_device(self, api_client, site):
        poll = make_poll(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        identify(api_client, site, MOBILE, "ABC", {})
        assert answer(api_client, site, poll, answers=good_answers(poll)).status_code == 201

        again = answer(api_client, site, poll, visitor_id=MOBILE, answers=good_answers(poll))

        assert (again.status_code, again.json()["code"]) == (409, "already_answered")
        assert offered_ids(api_client, site, visitor_id=MOBILE) == []
        assert Response.objects.filter(widget=poll).count() == 1

    def test_an_answer_from_a_page_the_widget_is_not_on_is_refused(self, api_client, site):
        feedback = make_feedback(site, url_contains="/checkout")

        elsewhere = answer(api_client, site, feedback, emotion=3, url="https://shop.example.com/")
        there = answer(
            api_client, site, feedback, emotion=3, url="https://shop.example.com/checkout"
        )

        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "not_targeted")
        assert there.status_code == 201
        assert Response.objects.count() == 1

    @pytest.mark.parametrize("url", [{"a": 1}, ["https://shop.example.com/pricing"], 7, True])
    def test_a_url_that_is_not_a_string_is_refused(self, api_client, site, url):
        """Not stored as Python's text of it, nor matched against a page condition, nor
        taken for a retry of an answer stored before."""
        feedback = make_feedback(site)
        pricing = make_feedback(site, name="Pricing tab", url_contains="pricing")
        first = answer(api_client, site, feedback, emotion=3, answer_id=ANSWER_ID)

        refused = [
            answer(api_client, site, feedback, emotion=3, url=url),
            answer(api_client, site, pricing, emotion=3, url=url),
            answer(api_client, site, feedback, emotion=3, url=url, answer_id=ANSWER_ID),
        ]

        assert first.status_code == 201
        for response in refused:
            assert response.status_code == 400
            assert response.json() == {
                "code": "invalid_url",
                "message": "url must be the address of the page, as a string.",
            }
        [stored] = Response.objects.filter(site=site)
        assert (stored.answer_id, stored.page_url) == (ANSWER_ID, "")

    def test_the_schema_lists_invalid_url_among_the_answers_refusals(self, client):
        schema = client.get("/api/schema/?format=json").json()
        path = schema["paths"]["/api/v1/sites/{site_key}/widgets/{widget_id}/responses"]

        assert "`invalid_url`" in path["post"]["responses"]["400"]["description"]

    def test_an_answer_without_a_url_or_with_null_is_from_no_page(self, api_client, site):
        feedback = make_feedback(site)

        statuses = [
            answer(api_client, site, feedback, emotion=3).status_code,
            answer(api_client, site, feedback, emotion=3, url=None).status_code,
            answer(api_client, site, feedback, emotion=3, url="https://s/a").status_code,
        ]

        assert statuses == [201] * 3
        assert sorted(Response.objects.values_list("page_url", flat=True)) == [
            "",
            "",
            "https://s/a",
        ]

    def test_a_visitor_the_poll_does_not_target_is_refused(self, api_client, site):
        poll = make_poll(site)
        identify(api_client, site, TABLET, "XYZ", {"total_spend": 0})

        refused = answer(api_client, site, poll, answers=good_answers(poll))
        anonymous = answer(api_client, site, poll, visitor_id=STRANGER, answers=good_answers(poll))

        assert (refused.status_code, refused.json()["code"]) == (403, "not_targeted")
        assert (anonymous.status_code, anonymous.json()["code"]) == (403, "not_targeted")
        assert not Response.objects.exists()
        # Nothing was created for the stranger either
        assert not Visitor.objects.filter(visitor_id=STRANGER).exists()
        assert Profile.objects.filter(site=site).count() == 1

    def test_a_paused_widget_takes_no_answers(self, api_client, site):
        feedback = widget_pause(widget=make_feedback(site))

        response = answer(api_client, site, feedback, emotion=5)

        assert (response.status_code, response.json()["code"]) == (409, "widget_inactive")

    def test_another_sites_widget_is_not_found(self, api_client, site, other_site):
        theirs = make_feedback(other_site)

        response = answer(api_client, site, theirs, emotion=5)
        missing = api_client.post(
            f"/api/v1/sites/{site.key}/widgets/999999/responses",
            {"visitor_id": TABLET, "emotion": 5},
            format="json",
        )

        assert (response.status_code, response.json()["code"]) == (404, "unknown_widget")
        assert (missing.status_code, missing.json()["code"]) == (404, "unknown_widget")
        assert not Response.objects.exists()
        assert not Visitor.objects.exists()


ANSWER_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


class TestAnswerRetries:
    def test_an_answer_sent_again_with_its_id_is_stored_once(self, api_client, site):
        feedback = make_feedback(site, thank_you_message="Thanks, we read it.")

        first = answer(api_client, site, feedback, emotion=2, answer_id=ANSWER_ID)
        again = answer(api_client, site, feedback, emotion=2, answer_id=ANSWER_ID)

        assert first.status_code == 201
        assert "duplicate" not in first.json()
        assert again.status_code == 200
        assert again.json() == {**first.json(), "duplicate": True}
        assert again.json()["thank_you_message"] == "Thanks, we read it."
        [stored] = Response.objects.filter(site=site)
        assert (stored.answer_id, stored.emotion) == (ANSWER_ID, 2)

    def test_another_answer_under_a_used_id_is_refused_and_the_first_stays(self, api_client, site):
        """Not taken for a retry and dropped without a word, as identify refuses a
        message_id sent with another call."""
        feedback = make_feedback(site)
        answer(api_client, site, feedback, emotion=2, comment="Slow", answer_id=ANSWER_ID)

        changes = [{"emotion": 5, "comment": "Slow"}, {"emotion": 2, "comment": "Fast"}]
        changes.append({"emotion": 2, "comment": "Slow", "email": "r@example.com"})
        refused = [
            answer(api_client, site, feedback, answer_id=ANSWER_ID, consent_to_connect=True, **c)
            for c in changes
        ]

        for response in refused:
            assert (response.status_code, response.json()["code"]) == (409, "answer_id_conflict")
        [stored] = Response.objects.filter(site=site)
        assert (stored.emotion, stored.comment, stored.email) == (2, "Slow", "")

    def test_a_retry_that_adds_answers_is_refused_and_the_first_stays(self, api_client, site):
        """The added answers are not stored under the first one's id, so they are not
        acknowledged as stored either."""
        poll = make_poll(site, EVERYONE)
        rating, single, multiple, text = question_ids(poll)
        first = answer(api_client, site, poll, answers=good_answers(poll), answer_id=ANSWER_ID)

        more = [{multiple: ["Poetry"]}, {text: "Faster delivery"}]
        refused = [
            answer(api_client, site, poll, answers=good_answers(poll, **m), answer_id=ANSWER_ID)
            for m in more
        ]

        assert first.status_code == 201
        for response in refused:
            assert (response.status_code, response.json()["code"]) == (409, "answer_id_conflict")
        [stored] = Response.objects.filter(site=site)
        assert stored.answers == {rating: 4, single: "Prices"}

    def test_a_retry_adding_blanks_or_keys_of_no_question_is_the_same_answer(
        self, api_client, site, other_site
    ):
        """Neither is stored with an answer, so the first answer says all they say."""
        poll = make_poll(site, EVERYONE)
        _rating, _single, multiple, text = question_ids(poll)
        theirs = make_poll(other_site, EVERYONE)
        first = answer(api_client, site, poll, answers=good_answers(poll), answer_id=ANSWER_ID)

        extras = [{multiple: [], text: "  "}, {"999999999": "Yes", "note": "x"}]
        extras.append({question_ids(theirs)[1]: "Prices"})  # another poll's question
        again = [
            answer(api_client, site, poll, answers=good_answers(poll, **e), answer_id=ANSWER_ID)
            for e in extras
        ]

        assert [(r.status_code, r.json()["id"]) for r in again] == [(200, first.json()["id"])] * 3
        assert Response.objects.filter(site=site).count() == 1

    def test_a_retry_from_another_page_is_the_same_answer(self, api_client, site):
        feedback = make_feedback(site)
        first = answer(
            api_client, site, feedback, emotion=2, answer_id=ANSWER_ID, page_url="https://s/a"
        )

        again = answer(
            api_client, site, feedback, emotion=2, answer_id=ANSWER_ID, page_url="https://s/b"
        )

        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])

    def test_answers_without_an_id_or_with_new_ids_are_each_stored(self, api_client, site):
        feedback = make_feedback(site)

        statuses = [
            answer(api_client, site, feedback, emotion=4).status_code,
            answer(api_client, site, feedback, emotion=4).status_code,
            answer(api_client, site, feedback, emotion=4, answer_id=ANSWER_ID).status_code,
            answer(api_client, site, feedback, emotion=4, answer_id="a" * 32).status_code,
        ]

        assert statuses == [201] * 4
        assert sorted(Response.objects.values_list("answer_id", flat=True)) == [
            "",
            "",
            ANSWER_ID,
            "a" * 32,
        ]

    def test_a_poll_answer_retried_gets_its_result_not_already_answered(self, api_client, site):
        poll = make_poll(site, EVERYONE)

        first = answer(api_client, site, poll, answers=good_answers(poll), answer_id=ANSWER_ID)
        again = answer(api_client, site, poll, answers=good_answers(poll), answer_id=ANSWER_ID)
        other = answer(api_client, site, poll, answers=good_answers(poll), answer_id="b" * 32)

        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert (other.status_code, other.json()["code"]) == (409, "already_answered")
        assert Response.objects.filter(site=site).count() == 1

    @pytest.mark.parametrize("edit", ["question removed", "required question added"])
    def test_a_retry_is_the_same_answer_after_the_owner_edited_the_poll(
        self, api_client, site, edit
    ):
        poll = make_poll(site, EVERYONE)
        rating, single, multiple, text = question_ids(poll)
        answers = {rating: 4, single: "Prices", multiple: ["Poetry", "Fiction"], text: " Quick "}
        first = answer(api_client, site, poll, answers=answers, answer_id=ANSWER_ID)
        kept = specs_of(poll.questions.all())
        if edit == "question removed":
            kept = kept[:-1]
        else:
            kept.append(QuestionSpec(kind="single", text="New?", choices=("Yes", "No")))
        questions_saved(poll, kept)

        again = answer(api_client, site, poll, answers=answers, answer_id=ANSWER_ID)

        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["duplicate"] is True

    def test_a_retry_is_acknowledged_after_the_widget_was_paused(self, api_client, site):
        feedback = make_feedback(site)
        first = answer(api_client, site, feedback, emotion=3, answer_id=ANSWER_ID)
        widget_pause(widget=feedback)

        again = answer(api_client, site, feedback, emotion=3, answer_id=ANSWER_ID)

        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])

    def test_an_id_used_for_another_widget_or_visitor_is_refused(self, api_client, site):
        feedback = make_feedback(site)
        tab = make_feedback(site, name="Second tab")
        answer(api_client, site, feedback, emotion=3, answer_id=ANSWER_ID)

        other_widget = answer(api_client, site, tab, emotion=3, answer_id=ANSWER_ID)
        other_visitor = answer(api_client, site, feedback, MOBILE, emotion=3, answer_id=ANSWER_ID)

        for response in (other_widget, other_visitor):
            assert response.status_code == 409
            assert response.json() == {
                "code": "answer_id_conflict",
                "message": "This answer_id was sent with another answer; send a new one.",
            }
        assert Response.objects.filter(site=site).count() == 1

    def test_the_same_id_on_another_site_is_its_own_answer(self, api_client, site, other_site):
        ours, theirs = make_feedback(site), make_feedback(other_site)

        statuses = [
            answer(api_client, site, ours, emotion=1, answer_id=ANSWER_ID).status_code,
            answer(api_client, other_site, theirs, emotion=5, answer_id=ANSWER_ID).status_code,
        ]

        assert statuses == [201, 201]
        assert Response.objects.get(site=site).emotion == 1
        assert Response.objects.get(site=other_site).emotion == 5

    @pytest.mark.parametrize("kind", ["feedback", "poll"])
    def test_a_copy_that_raced_past_the_first_check_gets_the_stored_answer(
        self, api_client, site, monkeypatch, kind
    ):
        """Two copies at once both find no answer under the id; the one that stores second
        then meets the unique id (feedback) or the answered poll, and is told it is a
        duplicate. Here the second copy's first look is made to miss the stored answer."""
        widget = make_feedback(site) if kind == "feedback" else make_poll(site, EVERYONE)
        body = {"emotion": 4} if kind == "feedback" else {"answers": good_answers(widget)}
        first = answer(api_client, site, widget, answer_id=ANSWER_ID, **body)
        looks = []
        answered_before = services._answered_before

        def first_look_misses(**kwargs):
            looks.append(kwargs["answer_id"])
            return None if len(looks) == 1 else answered_before(**kwargs)

        monkeypatch.setattr(services, "_answered_before", first_look_misses)

        again = answer(api_client, site, widget, answer_id=ANSWER_ID, **body)

        assert len(looks) == 2
        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
        assert again.json()["duplicate"] is True
        assert Response.objects.filter(site=site).count() == 1

    @pytest.mark.parametrize(
        "answer_id",
        ["short", "x" * 65, "has space in it 0000", 12345678901234567, "a" * 64 + "\n"],
    )
    def test_a_malformed_id_is_refused_and_nothing_stored(self, api_client, site, answer_id):
        feedback = make_feedback(site)

        response = answer(api_client, site, feedback, emotion=3, answer_id=answer_id)

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_answer_id"
        assert not Response.objects.exists()


class TestResponsesFollowThePerson:
    def test_an_anonymous_answer_joins_the_users_profile_when_identified(self, api_client, site):
        feedback = make_feedback(site)
        assert answer(api_client, site, feedback, emotion=4, comment="Nice").status_code == 201
        anonymous_profile = Response.objects.get().profile
        assert anonymous_profile.user_id is None

        identify(api_client, site, TABLET, "ABC", RACHEL)

        rachel = Profile.objects.get(site=site, user_id="ABC")
        assert Response.objects.get().profile == rachel
        assert not Profile.objects.filter(pk=anonymous_profile.pk).exists()

        # Her answer on a second device joins the same profile
        identify(api_client, site, MOBILE, "ABC", {})
        assert answer(api_client, site, feedback, visitor_id=MOBILE, emotion=5).status_code == 201
        assert set(Response.objects.values_list("profile_id", flat=True)) == {rachel.pk}
        assert Response.objects.filter(profile=rachel).count() == 2

    def test_visitor_lookup_finds_the_person_by_the_consent_email(self, api_client, site):
        feedback = make_feedback(site)
        answer(
            api_client,
            site,
            feedback,
            emotion=5,
            email="Rachel@Example.com",
            consent_to_connect=True,
        )
        answer(api_client, site, feedback, visitor_id=MOBILE, emotion=1)
        anonymous = Visitor.objects.get(site=site, visitor_id=TABLET).profile

        # While anonymous, the visitor is found by the email they gave: their whole profile
        for email in ("rachel@example.com", " RACHEL@example.COM "):
            found = profiles_matching(site=site, user_id=None, email=email)
            assert list(found) == [anonymous]
        assert not profiles_matching(site=site, user_id=None, email="other@example.com").exists()

        # Once the device is identified, the answer is the user's, found by the email on
        # its own (the typed address is no key to a user's profile); by the user id, all
        identify(api_client, site, TABLET, "ABC", RACHEL)
        rachel = Profile.objects.get(site=site, user_id="ABC")
        assert not profiles_matching(site=site, user_id=None, email="rachel@example.com").exists()
        answers = email_responses(site=site, email="Rachel@example.com", found=[])
        assert [(r.profile, r.emotion) for r in answers] == [(rachel, 5)]
        assert list(profiles_matching(site=site, user_id="ABC", email="rachel@example.com")) == [
            rachel
        ]

    def test_the_consent_email_of_one_site_does_not_find_people_of_another(
        self, api_client, site, other_site
    ):
        answer(
            api_client,
            other_site,
            make_feedback(other_site),
            emotion=5,
            email="rachel@example.com",
            consent_to_connect=True,
        )

        assert not profiles_matching(site=site, user_id=None, email="rachel@example.com").exists()

    def test_deleting_the_person_deletes_their_answers(self, api_client, site, owner):
        poll = make_poll(site)
        feedback = make_feedback(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        answer(api_client, site, poll, answers=good_answers(poll))
        answer(api_client, site, feedback, visitor_id=MOBILE, emotion=2, comment="Hm")
        identify(api_client, site, MOBILE, "ABC", {})
        # Someone else's answer stays
        answer(api_client, site, feedback, visitor_id=STRANGER, emotion=5)
        assert Response.objects.count() == 3

        audit = person_delete(
            site=site, user_id="ABC", email=None, requested_by=owner, channel="api"
        )

        assert audit.deleted_counts["responses"] == 2
        assert list(Response.objects.values_list("visitor__visitor_id", flat=True)) == [STRANGER]
        # Answered again later, the poll is a new person's first answer
        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert offered_ids(api_client, site) == [poll.pk, feedback.pk]

    def test_deleting_by_the_consent_email_deletes_an_anonymous_answer(
        self, api_client, site, owner
    ):
        feedback = make_feedback(site)
        answer(
            api_client,
            site,
            feedback,
            emotion=5,
            email="rachel@example.com",
            consent_to_connect=True,
        )

        person_delete(
            site=site,
            user_id=None,
            email="Rachel@example.com",
            requested_by=owner,
            channel=PrivacyAudit.Channel.API,
        )

        assert not Response.objects.exists()
        assert not Profile.objects.exists()
        assert not Visitor.objects.exists()
