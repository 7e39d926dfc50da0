"""Visitor Lookup pages: search by user id / email / both, delete with confirmation."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.feedback_targeting.models import Question, Response, Widget
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.identity.selectors import LOOKUP_ROWS_PER_KIND
from apps.identity.services import session_record, visitor_identify
from apps.user_attributes.models import AttributeValue
from tests.factories import VisitorFactory, sessions_of
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory

MOBILE = "mobile456mobile456mobile456bbbbb"


@pytest.fixture
def rachel(site):
    session_record(
        site=site, visitor_id=MOBILE, session_key="session-B-000000001", url="https://s/"
    )
    visitor_identify(
        site=site,
        visitor_id=MOBILE,
        user_id="ABC",
        attributes={"email": "rachel@example.com", "total_spend": 500},
    )
    return Profile.objects.get(site=site, user_id="ABC")


def page_url(site, suffix=""):
    return f"/a/{site.account.slug}/lookup/{site.key}/{suffix}"


@pytest.mark.parametrize(
    "query",
    ["user_id=ABC", "email=Rachel%40Example.com", "user_id=ABC&email=rachel%40example.com"],
)
def test_search_shows_the_person(login, member, site, rachel, query):
    response = login(member).get(f"{page_url(site)}?{query}")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-user-id="ABC"' in page
    assert 'data-key="total_spend"' in page
    assert "rachel@example.com" in page
    assert MOBILE in page
    assert "https://s/" in page
    assert PrivacyAudit.objects.get().channel == "page"


@pytest.mark.parametrize("email", ["José@example.com", "info@müller.de", "o'brien@example.com"])
def test_an_address_identify_stores_can_be_searched_for(login, member, site, email):
    visitor_identify(site=site, visitor_id=MOBILE, user_id="u1", attributes={"email": email})

    response = login(member).get(page_url(site), {"email": email})

    assert response.status_code == 200
    assert 'data-user-id="u1"' in response.content.decode()


def test_text_that_is_no_address_is_a_readable_error(login, member, site):
    response = login(member).get(page_url(site), {"email": "rachel at example"})

    assert response.status_code == 400
    assert "Enter an email address" in response.content.decode()
    assert not PrivacyAudit.objects.exists()


def test_htmx_search_returns_only_the_results(login, member, site, rachel):
    response = login(member).get(f"{page_url(site)}?user_id=ABC", HTTP_HX_REQUEST="true")

    assert "<html" not in response.content.decode()
    assert 'data-user-id="ABC"' in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_empty_search_is_a_readable_error(login, member, site):
    response = login(member).get(f"{page_url(site)}?user_id=&email=")

    assert response.status_code == 400
    assert "Give a user id, an email address, or both" in response.content.decode()
    assert not PrivacyAudit.objects.exists()


def test_nobody_found(login, member, site):
    response = login(member).get(f"{page_url(site)}?user_id=nobody")
    assert 'id="no-results"' in response.content.decode()


def test_delete_asks_then_removes_the_person(login, owner, site, rachel):
    client = login(owner)
    confirm = client.get(f"{page_url(site, 'delete/')}?user_id=ABC")
    assert "Delete permanently" in confirm.content.decode()
    assert Profile.objects.filter(pk=rachel.pk).exists()

    response = client.post(page_url(site, "delete/"), {"user_id": "ABC", "email": ""}, follow=True)

    assert response.status_code == 200
    assert (
        "Deleted everything stored about this person on Main shop: 1 profile, 2 attribute "
        "values, 1 device, 1 session and 0 feedback responses."
    ) in response.content.decode()
    assert 'id="no-results"' in response.content.decode()
    assert not Profile.objects.filter(site=site).exists()
    assert not AttributeValue.objects.filter(site=site).exists()
    assert not Visitor.objects.filter(site=site).exists()
    assert not Session.objects.filter(site=site).exists()


def test_a_member_cannot_delete(login, member, site, rachel):
    response = login(member).post(page_url(site, "delete/"), {"user_id": "ABC"})

    assert response.status_code == 403
    assert Profile.objects.filter(pk=rachel.pk).exists()


def test_another_accounts_site_is_404_and_untouched(login, owner, other_site):
    visitor_identify(site=other_site, visitor_id=MOBILE, user_id="ABC", attributes={"a": 1})
    client = login(owner)

    search = client.get(f"/a/radbooks/lookup/{other_site.key}/?user_id=ABC")
    delete = client.post(f"/a/radbooks/lookup/{other_site.key}/delete/", {"user_id": "ABC"})

    assert (search.status_code, delete.status_code) == (404, 404)
    assert Profile.objects.filter(site=other_site, user_id="ABC").exists()
    assert not PrivacyAudit.objects.exists()


@pytest.fixture
def anonymous_with_feedback(site):
    """An anonymous visitor who answered a poll and an Incoming Feedback widget, giving
    their email with the consent to connect it."""
    visitor_identify(
        site=site, visitor_id="anon0000anon0000anon0000anon0000", user_id=None, attributes={"a": 1}
    )
    visitor = Visitor.objects.get(site=site, visitor_id="anon0000anon0000anon0000anon0000")
    poll = WidgetFactory(site=site, name="How did you find us")
    first = QuestionFactory(widget=poll, position=0, text="Where from?")
    second = QuestionFactory(widget=poll, position=1, kind="multiple", text="What for?")
    ResponseFactory(
        widget=poll,
        visitor=visitor,
        profile=visitor.profile,
        answers={str(first.pk): "A friend", str(second.pk): ["Books", "Maps"]},
        email="anna@example.com",
        consent_to_connect=True,
        page_url="https://shop.example.com/checkout",
    )
    feedback = WidgetFactory(site=site, kind=Widget.Kind.FEEDBACK, name="Feedback tab")
    ResponseFactory(
        widget=feedback, visitor=visitor, profile=visitor.profile, emotion=5, comment="Lovely"
    )
    return visitor


def test_responses_are_shown_and_found_by_the_consented_email(
    login, member, site, anonymous_with_feedback
):
    response = login(member).get(f"{page_url(site)}?email=Anna%40Example.com")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('data-user-id=""') == 1
    assert page.count("data-response=") == 2
    assert "Where from? <strong>A friend</strong>" in page
    assert "What for? <strong>Books, Maps</strong>" in page
    assert "Love: “Lovely”" in page
    assert "anna@example.com <span" in page
    assert "https://shop.example.com/checkout" in page


def test_answers_to_a_removed_question_are_still_shown(
    login, member, site, anonymous_with_feedback
):
    question = Question.objects.get(site=site, text="What for?")
    removed = question.pk
    question.delete()

    page = login(member).get(f"{page_url(site)}?email=anna%40example.com").content.decode()

    assert "Where from? <strong>A friend</strong>" in page
    assert f"removed question (id {removed}) <strong>Books, Maps</strong>" in page


def test_a_question_the_widget_kept_the_text_of_is_named_by_it(
    login, member, site, anonymous_with_feedback
):
    question = Question.objects.get(site=site, text="What for?")
    Widget.objects.filter(pk=question.widget_id).update(
        removed_questions={str(question.pk): "What for?"}
    )
    removed = question.pk
    question.delete()

    page = login(member).get(f"{page_url(site)}?email=anna%40example.com").content.decode()

    assert f"removed question (id {removed}): What for? <strong>Books, Maps</strong>" in page


def test_deleting_a_person_found_by_email_removes_their_responses(
    login, owner, site, other_site, anonymous_with_feedback
):
    elsewhere = ResponseFactory(
        widget=WidgetFactory(site=other_site),
        visitor=VisitorFactory(site=other_site),
        email="anna@example.com",
        consent_to_connect=True,
    )

    response = login(owner).post(
        page_url(site, "delete/"), {"user_id": "", "email": "anna@example.com"}, follow=True
    )

    page = response.content.decode()
    assert (
        "Deleted everything stored about this person on Main shop: 1 profile, 1 attribute "
        "value, 1 device, 0 sessions and 2 feedback responses."
    ) in page
    assert 'id="no-results"' in page
    assert not Response.objects.filter(site=site).exists()
    assert not Visitor.objects.filter(site=site).exists()
    assert list(Response.objects.values_list("pk", flat=True)) == [elsewhere.pk]


def test_the_page_explains_what_anonymous_data_it_can_find(login, member, site):
    page = login(member).get(page_url(site)).content.decode()

    assert "they are found here only when the visitor gave their email" in page


def test_the_delete_confirmation_names_feedback_responses(login, owner, site, rachel):
    page = login(owner).get(f"{page_url(site, 'delete/')}?user_id=ABC").content.decode()

    assert "profiles, attribute values, devices, sessions and feedback responses" in page


def test_a_person_with_more_sessions_than_listed_shows_the_newest_and_the_total(
    login, owner, site, rachel
):
    visitor = Visitor.objects.get(site=site, profile=rachel)
    sessions_of(visitor, LOOKUP_ROWS_PER_KIND + 4, start=timezone.now() - timedelta(days=1))
    total = LOOKUP_ROWS_PER_KIND + 5  # with the fixture's own
    client = login(owner)

    html = client.get(page_url(site, "?user_id=ABC")).content.decode()

    assert f"Showing the newest {LOOKUP_ROWS_PER_KIND} of {total} sessions." in html
    assert f"https://s/flood/{LOOKUP_ROWS_PER_KIND + 3}" in html  # the newest
    assert "https://s/flood/3<" not in html  # the oldest left out
    # each listed session's landing and last page, and the fixture's
    assert html.count("https://s/flood/") == 2 * (LOOKUP_ROWS_PER_KIND - 1)
    client.post(page_url(site, "delete/"), {"user_id": "ABC", "email": ""})
    assert not Session.objects.filter(site=site).exists()


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
def test_a_link_from_another_site_fills_in_the_search_but_records_no_lookup(
    login, member, site, rachel, fetch_site
):
    """A page elsewhere must not make a member look people up in their name."""
    response = login(member).get(
        f"{page_url(site)}?user_id=ABC&email=ceo%40example.com", HTTP_SEC_FETCH_SITE=fetch_site
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="search-held"' in page
    assert 'value="ABC"' in page
    assert "data-user-id=" not in page
    assert not PrivacyAudit.objects.exists()


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
def test_a_link_from_another_site_to_the_delete_confirmation_names_no_one(
    login, owner, site, rachel, fetch_site
):
    """The confirmation's list of whom it deletes is a lookup: a link from elsewhere gets
    the confirmation without it, and nothing is recorded in the member's name."""
    response = login(owner).get(
        f"{page_url(site, 'delete/')}?email=rachel%40example.com", HTTP_SEC_FETCH_SITE=fetch_site
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "ABC" not in page
    assert "Look them up first" in page
    assert 'name="email" value="rachel@example.com"' in page
    assert not PrivacyAudit.objects.exists()


@pytest.mark.parametrize("fetch_site", ["same-origin", "none", None])
def test_a_search_from_cohort_itself_or_typed_runs(login, member, site, rachel, fetch_site):
    headers = {"HTTP_SEC_FETCH_SITE": fetch_site} if fetch_site else {}

    page = login(member).get(f"{page_url(site)}?user_id=ABC", **headers).content.decode()

    assert 'data-user-id="ABC"' in page
    assert 'id="search-held"' not in page
    assert PrivacyAudit.objects.count() == 1


def test_a_search_the_log_in_page_sends_on_to_is_held_too(login, member, site, rachel):
    """A link from elsewhere that met a logged-out member comes back from the log-in page
    as a request of Cohort's own."""
    response = login(member).get(
        f"{page_url(site)}?user_id=ABC",
        HTTP_SEC_FETCH_SITE="same-origin",
        HTTP_REFERER=f"http://testserver/login/?next={page_url(site)}%3Fuser_id%3DABC",
    )

    assert 'id="search-held"' in response.content.decode()
    assert not PrivacyAudit.objects.exists()


@pytest.mark.usefixtures("family_pc")
def test_an_email_given_on_someone_elses_device_lists_the_answers_alone(login, member, owner, site):
    html = login(member).get(page_url(site), {"email": "rachel@example.com"}).content.decode()

    assert "0 profiles found; 1 answer given with this email on other profiles" in html
    assert 'id="email-responses"' in html
    assert "from Rachel" in html
    assert "from XYZ" not in html
    for of_xyz in ("XYZ", "xyz@example.com", "https://s/orders"):
        assert of_xyz not in html
    confirm = login(owner).get(page_url(site, "delete/"), {"email": "rachel@example.com"})
    assert "1 answer given with this email on another user's device" in confirm.content.decode()
    assert "XYZ" not in confirm.content.decode()


def test_the_lookup_shows_each_sessions_last_page_and_whole_urls(login, member, site, rachel):
    long = "https://s/account/settings?tab=profile&email=rachel.green%40example.com&phone=5551"
    session_record(
        site=site,
        visitor_id=MOBILE,
        session_key="session-B-000000001",
        url=long,
        referrer="https://mail.example.com/inbox/message?from=rachel.green%40example.com",
    )

    html = login(member).get(page_url(site), {"user_id": "ABC"}).content.decode()

    assert long.replace("&", "&amp;") in html  # the last page, whole
    assert MOBILE in html.split('class="sessions"')[1]  # the device, whole


def test_the_delete_confirmation_names_everyone_it_deletes(login, owner, site, rachel):
    """Terms that find two people say so, by user id, before anything goes; the question
    itself is recorded as a lookup."""
    visitor_identify(
        site=site, visitor_id="y" * 20, user_id="Y1", attributes={"email": "y1@example.com"}
    )
    client = login(owner)

    page = client.get(
        page_url(site, "delete/"), {"user_id": "ABC", "email": "Y1@example.com"}
    ).content.decode()

    assert "Delete these 2 profiles?" in page
    assert "<li>user <code>ABC</code></li><li>user <code>Y1</code></li>" in page
    assert "they are recorded again, as someone new" in page
    assert PrivacyAudit.objects.get().profiles_found == 2
    nobody = client.get(page_url(site, "delete/"), {"user_id": "nobody"}).content.decode()
    assert "Nothing is stored about anyone with these details." in nobody


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"email": "bob"}, "email", "Enter an email address, such as rachel@example.com."),
        (
            {"user_id": "u" * 256},
            "user_id",
            "Ensure this value has at most 255 characters (it has 256).",
        ),
    ],
)
def test_an_htmx_search_with_a_field_error_sends_back_the_form_with_it(
    login, member, site, query, field, message
):
    # when a search the form refuses is sent by htmx
    response = login(member).get(page_url(site), query, HTTP_HX_REQUEST="true")

    # then the answer is the form with the error tied to its field, and the address bar
    # keeps the last search that ran
    page = response.content.decode()
    assert response.status_code == 400
    assert response["HX-Push-Url"] == "false"
    assert "<html" not in page
    assert 'id="lookup-form"' in page
    error_id = f"id_{field}_error"
    assert re.search(
        rf'<input [^>]*aria-invalid="true"[^>]*aria-describedby="{error_id}"[^>]*id="id_{field}"',
        page,
    )
    assert re.search(rf'id="{error_id}"><p class="error" role="alert">{re.escape(message)}', page)
    assert not PrivacyAudit.objects.exists()


def test_an_htmx_search_sends_back_the_form_and_the_results(login, member, site, rachel):
    response = login(member).get(page_url(site), {"user_id": "ABC"}, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert "HX-Push-Url" not in response
    assert re.search(r'<input [^>]*value="ABC"[^>]*id="id_user_id"', page)
    assert "aria-invalid" not in page
    assert 'data-user-id="ABC"' in page


def test_a_history_restore_gets_the_whole_page(login, member, site, rachel):
    """htmx swaps a restored page into <body>: a part alone would lose the rest."""
    response = login(member).get(
        page_url(site),
        {"user_id": "ABC"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" in page
    assert '<nav class="mainnav" aria-label="Main">' in page
    assert "<h1>Visitor Lookup</h1>" in page
    assert re.search(r'<input [^>]*value="ABC"[^>]*id="id_user_id"', page)
    assert "HX-History-Restore-Request" in response["Vary"]


def test_going_back_to_a_search_holds_it_rather_than_recording_another_lookup(
    login, member, site, rachel
):
    client = login(member)
    client.get(page_url(site), {"user_id": "ABC"}, HTTP_HX_REQUEST="true")
    recorded = PrivacyAudit.objects.count()

    back = client.get(
        page_url(site),
        {"user_id": "ABC"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )

    page = back.content.decode()
    assert PrivacyAudit.objects.count() == recorded
    assert 'data-user-id="ABC"' not in page
    assert "This is a search you made before. Press Look up to run it again" in page


def confirmation_form_id(client, site) -> str:
    """The copy of the deletion's confirmation form that the page hands out."""
    page = client.get(page_url(site, "delete/"), {"user_id": "ABC"}).content.decode()
    found = re.search(r'name="form_id" value="([0-9a-f]{32})"', page)
    return found.group(1) if found else ""


def test_a_deletion_sent_twice_deletes_and_is_recorded_once(login, owner, site, rachel):
    # given the confirmation of a deletion, open in the browser
    client = login(owner)
    data = {"user_id": "ABC", "email": "", "form_id": confirmation_form_id(client, site)}

    # when its "Delete permanently" is sent twice (a double click, a reload of the answer)
    first = client.post(page_url(site, "delete/"), data, follow=True)
    second = client.post(page_url(site, "delete/"), data, follow=True)

    # then the person is deleted once, with one record, and both answers say what went
    said = (
        "Deleted everything stored about this person on Main shop: 1 profile, 2 attribute "
        "values, 1 device, 1 session and 0 feedback responses."
    )
    assert said in first.content.decode()
    assert said in second.content.decode()
    assert 'id="no-results"' in second.content.decode()
    deletion = PrivacyAudit.objects.get(action="delete")
    assert deletion.deleted_counts == {
        "profiles": 1,
        "attribute_values": 2,
        "visitors": 1,
        "sessions": 1,
        "responses": 0,
    }
    assert not Profile.objects.filter(site=site).exists()


def test_another_copy_of_the_confirmation_deletes_again(login, owner, site, rachel):
    """A new copy of the form is a new request: the person may have come back since."""
    client = login(owner)
    form_ids = [confirmation_form_id(client, site) for _ in range(2)]

    for form_id in form_ids:
        client.post(page_url(site, "delete/"), {"user_id": "ABC", "form_id": form_id})

    deletions = PrivacyAudit.objects.filter(action="delete").order_by("pk")
    assert [d.deleted_counts["profiles"] for d in deletions] == [1, 0]
