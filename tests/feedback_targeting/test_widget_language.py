"""A widget's own words (buttons, labels, messages) in the language it is set to; the
customer's questions and thank-you stay as written."""

import re
import string

import pytest

from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.services import widget_activate, widget_save
from apps.feedback_targeting.texts import LANGUAGES, WIDGET_TEXTS
from apps.tracker.selectors import SCRIPT_PATH
from tests.feedback_targeting.test_pages import HX, builder_post, catalogue, html, url
from tests.feedback_targeting.test_widget_api import offered

EVERYONE = {"match": "all", "conditions": []}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_word_with_the_same_placeholders():
    english = WIDGET_TEXTS["en"]
    assert [code for code, _ in LANGUAGES] == list(WIDGET_TEXTS)
    for code, texts in WIDGET_TEXTS.items():
        assert texts.keys() == english.keys(), code
        for key, text in texts.items():
            assert text, (code, key)
            assert text.strip() == text, (code, key)
            assert placeholders(text) == placeholders(english[key]), (code, key)


def test_the_script_asks_only_for_words_the_languages_have():
    asked = set(re.findall(r'\bt\("([a-z_0-9]+)"', SCRIPT_PATH.read_text()))

    assert asked
    assert asked <= WIDGET_TEXTS["en"].keys()
    assert {key for key in WIDGET_TEXTS["en"] if not key.startswith("emotion_")} <= asked


def test_the_builder_saves_the_language_and_the_decision_carries_it(login, owner, site, api_client):
    catalogue(site)
    data = builder_post(
        kind="feedback", language="de", conditions=[], thank_you_message="", url_contains=""
    )

    response = login(owner).post(url(site, "new"), data)

    assert response.status_code == 302
    widget = Widget.objects.get(site=site)
    assert (widget.language, widget.thank_you_message) == ("de", "Vielen Dank für Ihr Feedback!")
    widget_activate(widget=widget)
    [offer] = offered(api_client, site).json()["widgets"]
    assert offer["language"] == "de"
    assert [e["label"] for e in offer["emotions"]] == [
        "Hasse ich",
        "Gefällt mir nicht",
        "Neutral",
        "Gefällt mir",
        "Liebe ich",
    ]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Thank you for your feedback!", "Merci pour votre avis\u202f!"),  # left as filled in
        ("Vielen Dank für Ihr Feedback!", "Merci pour votre avis\u202f!"),
        ("Merci, à bientôt", "Merci, à bientôt"),  # the customer's own
    ],
)
def test_a_default_thank_you_follows_the_language_and_the_customers_own_stays(site, given, kept):
    widget = widget_save(
        site=site,
        kind="feedback",
        name="Avis",
        targeting=EVERYONE,
        questions=[],
        thank_you_message=given,
        language="fr",
    )

    assert widget.thank_you_message == kept


def test_a_language_not_offered_is_refused_and_nothing_is_saved(login, owner, site):
    catalogue(site)

    response = login(owner).post(url(site, "new"), builder_post(language="xx"))

    assert response.status_code == 400
    assert "Select a valid choice. xx is not one of the available choices." in html(response)
    assert not Widget.objects.exists()


def test_the_preview_shows_the_widgets_own_words_in_its_language(login, owner, site):
    catalogue(site)
    data = builder_post(language="es")

    page = html(login(owner).post(url(site, "builder/preview"), data, **HX))

    assert "Pregunta 1 de 2" in page
    assert "Tu correo electrónico (opcional) · Vincular mi opinión a este correo electrónico" in (
        page
    )
    assert '<span class="wp-send" lang="es">Enviar</span>' in page
    assert '<p class="wp-progress" lang="es">Pregunta 1 de 2</p>' in page
    assert "Your email (optional)" not in page


def test_a_widget_saved_before_languages_existed_speaks_english(site, api_client):
    widget = widget_save(site=site, kind="feedback", name="Old", targeting=EVERYONE, questions=[])
    widget_activate(widget=widget)

    [offer] = offered(api_client, site).json()["widgets"]

    assert offer["language"] == "en"
    assert offer["emotions"][0]["label"] == "Hate"
