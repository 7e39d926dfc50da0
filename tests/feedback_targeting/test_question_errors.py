"""The builder's question blocks tie each error to its field, for screen readers."""

import re

from tests.feedback_targeting.test_pages import builder_post, html, url


def described_by(page: str, field_id: str) -> str:
    """The aria-describedby of the control with this id ("" when it has none)."""
    control = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{field_id}"[^>]*>', page)
    assert control, field_id
    found = re.search(r'aria-describedby="([^"]*)"', control.group(0))
    return found.group(1) if found else ""


def is_invalid(page: str, field_id: str) -> bool:
    control = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{field_id}"[^>]*>', page)
    return 'aria-invalid="true"' in control.group(0)


def test_a_questions_text_and_kind_errors_are_tied_to_their_fields(login, owner, site):
    # when a question without text and of an unknown kind is saved
    response = login(owner).post(
        url(site, "new"), builder_post(**{"q0-text": "", "q1-kind": "bogus"})
    )

    # then each field is marked invalid and described by the element holding its error
    page = html(response)
    assert response.status_code == 400
    for field_id, message in [
        ("id_q0-text", "This field is required."),
        ("id_q1-kind", "Select a valid choice. bogus is not one of the available choices."),
    ]:
        assert is_invalid(page, field_id)
        assert described_by(page, field_id) == f"{field_id}_error"
        assert re.search(
            rf'<div id="{field_id}_error"><p class="error" role="alert">{re.escape(message)}</p>',
            page,
        )
    # and the fields without errors are not
    for field_id in ("id_q0-kind", "id_q1-text"):
        assert not is_invalid(page, field_id)
        assert described_by(page, field_id) == ""
