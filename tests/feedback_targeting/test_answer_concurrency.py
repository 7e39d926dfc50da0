"""One answer sent several times at the same moment, as a client's retries may arrive,
against a live server on PostgreSQL: one response is stored, and every copy is told so."""

import pytest

from apps.feedback_targeting.models import Response
from tests.factories import SiteFactory
from tests.feedback_targeting.test_widget_api import (
    EVERYONE,
    TABLET,
    good_answers,
    make_feedback,
    make_poll,
)
from tests.identity.test_concurrency import post, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]

COPIES = 6
ANSWER_ID = "race-0000000000000000000000000000"


@pytest.mark.parametrize("kind", ["feedback", "poll"])
def test_copies_of_one_answer_sent_at_once_store_one_response(live_server, kind):
    site = SiteFactory()
    widget = make_feedback(site) if kind == "feedback" else make_poll(site, EVERYONE)
    url = f"{live_server.url}/api/v1/sites/{site.key}/widgets/{widget.pk}/responses"
    body = {"visitor_id": TABLET, "answer_id": ANSWER_ID}
    body |= {"emotion": 4} if kind == "feedback" else {"answers": good_answers(widget)}

    statuses = race(url, [body] * COPIES)

    assert sorted(statuses) == [200] * (COPIES - 1) + [201]
    [stored] = Response.objects.filter(site=site)
    assert stored.answer_id == ANSWER_ID
    status, again = post(url, body)
    assert (status, again["id"], again["duplicate"]) == (200, stored.pk, True)
