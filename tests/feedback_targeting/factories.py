import factory
from django.utils import timezone

from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.services import QuestionSpec, widget_save
from tests.factories import ProfileFactory, SiteFactory, VisitorFactory


class WidgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Widget

    site = factory.SubFactory(SiteFactory)
    kind = Widget.Kind.POLL
    name = factory.Sequence(lambda n: f"Poll {n}")
    status = Widget.Status.ACTIVE


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    widget = factory.SubFactory(WidgetFactory)
    site = factory.SelfAttribute("widget.site")
    position = factory.Sequence(lambda n: n)
    kind = Question.Kind.SINGLE
    text = "How did you hear about us?"
    choices = factory.LazyFunction(lambda: ["Search", "A friend"])


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    widget = factory.SubFactory(WidgetFactory)
    site = factory.SelfAttribute("widget.site")
    profile = factory.SubFactory(ProfileFactory, site=factory.SelfAttribute("..site"))
    visitor = factory.SubFactory(
        VisitorFactory,
        site=factory.SelfAttribute("..site"),
        profile=factory.SelfAttribute("..profile"),
    )
    answers = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(timezone.now)


def specs_of(questions) -> list[QuestionSpec]:
    """The builder's specs of saved questions, each naming its question."""
    return [
        QuestionSpec(
            kind=q.kind,
            text=q.text,
            choices=tuple(q.choices),
            required=q.required,
            question_id=q.pk,
        )
        for q in questions
    ]


def questions_saved(widget: Widget, specs: list[QuestionSpec]) -> Widget:
    """The poll saved by its owner with these questions, the rest as it is."""
    return widget_save(
        site=widget.site,
        widget=widget,
        kind=widget.kind,
        name=widget.name,
        targeting=widget.targeting,
        questions=specs,
    )


def feedback_with_comments(widget: Widget, count: int, comment_length: int) -> None:
    """`count` feedback answers on `widget` from one identified visitor, saved at once,
    each comment "comment <n> " then `comment_length` x's: an export's worth of rows."""
    visitor = VisitorFactory(site=widget.site, profile=ProfileFactory(site=widget.site))
    Response.objects.bulk_create(
        Response(
            site=widget.site,
            widget=widget,
            visitor=visitor,
            profile=visitor.profile,
            emotion=3,
            comment=f"comment {n} " + "x" * comment_length,
            created_at=timezone.now(),
        )
        for n in range(count)
    )
