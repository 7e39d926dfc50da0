import pytest

from apps.feedback_targeting.services import (
    ResponseInput,
    response_submit,
    widget_activate,
    widget_save,
)
from apps.identity.services import session_record, visitor_identify

FAMILY_PC = "familypc0familypc0familypc0ccccc"


@pytest.fixture
def family_pc(site) -> None:
    """XYZ identified on the family computer, with a visit and an answer of his; Rachel
    answers there too, with her own email and the consent to connect it."""
    feedback = widget_activate(
        widget=widget_save(site=site, kind="feedback", name="Tab", targeting={}, questions=[])
    )
    visitor_identify(
        site=site,
        visitor_id=FAMILY_PC,
        user_id="XYZ",
        attributes={"email": "xyz@example.com", "total_spend": 900},
    )
    session_record(
        site=site, visitor_id=FAMILY_PC, session_key="session-F-000000001", url="https://s/orders"
    )
    for comment, email in (("from XYZ", ""), ("from Rachel", "Rachel@Example.com")):
        response_submit(
            site=site,
            widget_id=feedback.pk,
            visitor_id=FAMILY_PC,
            data=ResponseInput(
                answers={}, emotion=4, comment=comment, email=email, consent_to_connect=bool(email)
            ),
        )
