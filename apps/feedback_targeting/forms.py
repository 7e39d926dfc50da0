"""HTML forms of the widget builder.

One builder form is three kinds of input read from the same request: the widget's own
fields, its question blocks (polls) and the condition rows of its targeting rule. Blocks
and rows are named by a prefix (`q0`, `c3`, ...) listed in hidden `questions` /
`conditions` inputs, so htmx can add, remove and re-render one of them without touching
the others, and a plain POST (no JavaScript) carries the same names.

The forms only turn HTML fields into the shapes the services take; the rule itself is
validated by `rules.parse_rule`, and questions by `services.widget_save`.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from django import forms

from apps.common.once import OnceForm
from apps.feedback_targeting.models import Question, Widget
from apps.feedback_targeting.rules import (
    NO_VALUE_OPS,
    OPERATORS,
    Rule,
    RuleError,
    list_text,
    parse_rule,
)
from apps.feedback_targeting.selectors import EMOTIONS, KeyChoice
from apps.feedback_targeting.services import QuestionSpec
from apps.feedback_targeting.texts import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    thank_you_in,
    widget_texts,
)
from apps.user_attributes.models import ValueType

# The key select's value for "visitor is identified / anonymous" (keys never start with @).
VISITOR_KEY = "@visitor"
PREFIX_RE = re.compile(r"^[qc]\d{1,4}$")
# Rows read from one request, whatever was sent; the services refuse more than they allow.
MAX_ROWS = 50
MAX_CHOICE_LENGTH = 120
DEFAULT_THANK_YOU = "Thank you for your feedback!"

MATCH_CHOICES = [("all", "all"), ("any", "any")]
TYPE_LABELS = dict(ValueType.choices)


def number_text(value: float) -> str:
    """A stored number as a person would write it: 10, not 10.0."""
    return str(int(value)) if float(value).is_integer() else str(value)


def operator_label(type_: str, op: str) -> str:
    label = OPERATORS.get(type_, {}).get(op, op)
    return label.removeprefix("visitor ") if type_ == "visitor" else label


def kind_of(raw: str | None) -> str:
    return raw if raw in Widget.Kind.values else Widget.Kind.POLL


# --- the widget's own fields --------------------------------------------------------


class WidgetFieldsForm(OnceForm):
    # Its `form_id` is sent by a new widget's builder only: a widget is made once per copy.
    name = forms.CharField(
        max_length=120, label="Name", help_text="For you and your team; visitors never see it."
    )
    thank_you_message = forms.CharField(
        max_length=300,
        required=False,
        label="Thank-you message",
        help_text="Shown after the visitor answers. Left empty, or as it is, it is said in "
        "the widget's language.",
    )
    language = forms.ChoiceField(
        choices=LANGUAGES,
        initial=DEFAULT_LANGUAGE,
        required=False,  # a page sent without it (one opened before it existed): English
        label="Language of the widget's own words",
        help_text="Its buttons, labels and messages around your questions; write the "
        "questions in the language you want your visitors to read.",
    )
    url_contains = forms.CharField(
        max_length=300,
        required=False,
        label="Only on pages whose URL contains",
        help_text="For example /checkout. Leave empty to show it on every page.",
    )
    match = forms.ChoiceField(choices=MATCH_CHOICES, initial="all", label="Match")

    def clean_language(self) -> str:
        return self.cleaned_data["language"] or DEFAULT_LANGUAGE


# --- question blocks ------------------------------------------------------------------


class QuestionForm(forms.Form):
    # The saved question the block edits; empty for a block added in this edit.
    id = forms.CharField(required=False, widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=Question.Kind.choices, label="Kind")
    text = forms.CharField(max_length=300, label="Question")
    choices = forms.CharField(
        required=False,
        label="Choices",
        help_text="One per line, at least two.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    required = forms.BooleanField(required=False, label="An answer is required")

    @property
    def raw_kind(self) -> str:
        kind = self["kind"].value()
        return kind if kind in Question.Kind.values else Question.Kind.SINGLE

    @property
    def needs_choices(self) -> bool:
        return self.raw_kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE)

    @property
    def raw_choices(self) -> list[str]:
        return [line.strip() for line in str(self["choices"].value() or "").splitlines()]

    def clean_id(self) -> int | None:
        """An id that is not a number edits no saved question: the block is a new one
        (nothing the editor could fix is wrong with it, so it is not an error)."""
        value = self.cleaned_data["id"].strip()
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None

    def clean_choices(self) -> list[str]:
        """The choices, for a question that takes them; a question of another kind
        carries the ones it had (the builder keeps them while the kind is tried), unused."""
        if not self.needs_choices:
            return []
        choices = [c for c in self.raw_choices if c]
        if any(len(c) > MAX_CHOICE_LENGTH for c in choices):
            raise forms.ValidationError(f"A choice has at most {MAX_CHOICE_LENGTH} characters.")
        return choices

    def spec(self) -> QuestionSpec:
        data = self.cleaned_data
        choices = tuple(data["choices"]) if self.needs_choices else ()
        return QuestionSpec(
            kind=data["kind"],
            text=data["text"],
            choices=choices,
            required=data["required"],
            question_id=data["id"],
        )

    def preview(self) -> dict:
        """What the widget preview shows for this block, valid or not."""
        return {
            "kind": self.raw_kind,
            "text": str(self["text"].value() or ""),
            "choices": [c for c in self.raw_choices if c] if self.needs_choices else [],
            "required": bool(self["required"].value()),
        }


def _typed(form: forms.Form) -> dict:
    """What a bound form's fields hold, as initial values for an unbound copy."""
    return {name: form[name].value() for name in form.fields}


def question_form_blank(prefix: str) -> QuestionForm:
    return QuestionForm(prefix=prefix, initial={"kind": Question.Kind.SINGLE, "required": True})


def question_form_of(prefix: str, question: Question) -> QuestionForm:
    return QuestionForm(
        prefix=prefix,
        initial={
            "id": question.pk,
            "kind": question.kind,
            "text": question.text,
            "choices": "\n".join(question.choices),
            "required": question.required,
        },
    )


# --- condition rows ----------------------------------------------------------------


def _value_text(type_: str, op: str, value) -> tuple[str, str]:
    """A stored condition value as the row's one or two input values."""
    if value is None:
        return "", ""
    if op == "between" and isinstance(value, list | tuple) and len(value) == 2:
        return tuple(number_text(v) if isinstance(v, int | float) else str(v) for v in value)
    if op == "in" and isinstance(value, list | tuple):
        return list_text(value), ""
    if type_ == ValueType.NUMBER and isinstance(value, int | float):
        return number_text(value), ""
    if isinstance(value, date):
        return value.isoformat(), ""
    return str(value), ""


@dataclass(frozen=True)
class ConditionRow:
    """One condition of the rule as the editor holds it: plain strings, maybe incomplete."""

    prefix: str
    key: str = ""  # an attribute key, VISITOR_KEY, or "" (nothing chosen yet)
    type: str = ""
    op: str = ""
    value: str = ""
    value2: str = ""
    # The key the type and operator were chosen for; another key means they are stale.
    type_key: str = ""
    error: str = ""

    @classmethod
    def from_data(cls, data: Mapping, prefix: str) -> "ConditionRow":
        def field(name: str) -> str:
            return str(data.get(f"{prefix}-{name}", "")).strip()

        type_ = field("type")
        # A text is compared as typed: "gold " is not "gold" (identify stores strings as
        # sent); the other types' values are read from their text, spaces aside.
        value = str(data.get(f"{prefix}-value", ""))
        return cls(
            prefix=prefix,
            key=field("key"),
            type=type_,
            op=field("op"),
            value=value if type_ == ValueType.STRING else value.strip(),
            value2=field("value2"),
            type_key=field("type_key"),
        )

    @classmethod
    def from_condition(cls, prefix: str, condition: Mapping) -> "ConditionRow":
        type_, op = str(condition.get("type", "")), str(condition.get("op", ""))
        value, value2 = _value_text(type_, op, condition.get("value"))
        key = VISITOR_KEY if type_ == "visitor" else str(condition.get("key", ""))
        return cls(
            prefix=prefix, key=key, type=type_, op=op, value=value, value2=value2, type_key=key
        )

    @property
    def is_blank(self) -> bool:
        return not self.key

    @property
    def key_changed(self) -> bool:
        """The key was changed after its type and operator were shown (no JavaScript)."""
        return bool(self.type_key) and self.type_key != self.key

    @property
    def needs_operator(self) -> bool:
        """A key is chosen and its operator not yet (without JavaScript, the operators
        show once the form is updated)."""
        return bool(self.key) and not self.op

    @property
    def needs_value(self) -> bool:
        return bool(self.key and self.op) and self.op not in NO_VALUE_OPS

    @property
    def missing_value(self) -> bool:
        if not self.needs_value or self.op not in OPERATORS.get(self.type, {}):
            return False
        return not self.value.strip() or (self.op == "between" and not self.value2)

    def as_json(self) -> dict:
        if self.key == VISITOR_KEY:
            return {"type": "visitor", "op": self.op}
        condition: dict = {"type": self.type, "key": self.key, "op": self.op}
        if self.op not in NO_VALUE_OPS:
            condition["value"] = [self.value, self.value2] if self.op == "between" else self.value
        return condition

    def type_options(self, catalogue: Mapping[str, KeyChoice]) -> list[str]:
        """The types this row's key may be compared as: one, unless the key's values
        arrived with several types (or the key is not in the catalogue). A saved
        condition keeps its own type even if the catalogue never saw it, so that opening
        a widget never changes its rule behind the user's back."""
        if self.key == VISITOR_KEY:
            return ["visitor"]
        choice = catalogue.get(self.key)
        if choice is None:
            return list(ValueType.values)
        types = choice.types_seen or [choice.value_type]
        if not self.key_changed and self.type in ValueType.values and self.type not in types:
            types = [*types, self.type]
        return types

    def fitted(self, catalogue: Mapping[str, KeyChoice]) -> "ConditionRow":
        """The row with a type and an operator that fit its key, for display."""
        if self.is_blank:
            return replace(self, type="", op="")
        chosen = "" if self.key_changed else self.type
        types = self.type_options(catalogue)
        if chosen in types:
            type_ = chosen
        else:
            choice = catalogue.get(self.key)
            type_ = choice.value_type if choice and choice.value_type in types else types[0]
        ops = OPERATORS[type_]
        op = self.op if self.op in ops else next(iter(ops))
        return replace(self, type=type_, op=op, type_key=self.key)


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class ConditionView:
    """A condition row with everything its template needs."""

    row: ConditionRow
    key_options: list[Option]
    type_options: list[Option]
    op_options: list[Option]
    value_input: str  # "", "number", "between", "text", "list", "date" or "days"
    autofocus: bool = False

    @property
    def prefix(self) -> str:
        return self.row.prefix

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.row.type, "")

    @property
    def type_choosable(self) -> bool:
        return len(self.type_options) > 1


def _value_input(type_: str, op: str) -> str:
    if not op or op in NO_VALUE_OPS or op not in OPERATORS.get(type_, {}):
        return ""
    if type_ == ValueType.NUMBER:
        return "between" if op == "between" else "number"
    if type_ == ValueType.STRING:
        return "list" if op == "in" else "text"
    return "days" if op.endswith("_days_ago") else "date"


def _key_label(choice: KeyChoice) -> str:
    if len(choice.types_seen) > 1:
        types = ", ".join(TYPE_LABELS[t].lower() for t in choice.types_seen)
        return f"{choice.key} ({types}: type conflict)"
    return f"{choice.key} ({TYPE_LABELS[choice.value_type].lower()})"


def condition_view(
    row: ConditionRow, catalogue: Mapping[str, KeyChoice], *, autofocus: bool = False
) -> ConditionView:
    row = row.fitted(catalogue)
    keys = [Option("", "Choose…", row.is_blank)]
    keys += [Option(c.key, _key_label(c), c.key == row.key) for c in catalogue.values()]
    if row.key and row.key != VISITOR_KEY and row.key not in catalogue:
        keys.append(Option(row.key, f"{row.key} (not seen on this site)", True))
    keys.append(Option(VISITOR_KEY, "Visitor: identified or anonymous", row.key == VISITOR_KEY))
    types = [] if row.is_blank else row.type_options(catalogue)
    return ConditionView(
        row=row,
        key_options=keys,
        type_options=[Option(t, TYPE_LABELS.get(t, t), t == row.type) for t in types],
        op_options=[
            Option(op, operator_label(row.type, op), op == row.op)
            for op in OPERATORS.get(row.type, {})
        ],
        value_input=_value_input(row.type, row.op),
        autofocus=autofocus,
    )


# --- the whole builder ---------------------------------------------------------------


def prefixes(data: Mapping, name: str, letter: str) -> list[str]:
    """The block prefixes a request lists, in order, well-formed and without repeats."""
    values = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
    found = [p for p in dict.fromkeys(values) if PREFIX_RE.match(p) and p[0] == letter]
    return found[:MAX_ROWS]


def next_prefix(existing: Iterable[str], letter: str) -> str:
    numbers = [int(p[1:]) for p in existing if PREFIX_RE.match(p) and p[0] == letter]
    return f"{letter}{max(numbers, default=-1) + 1}"


class BuilderForm:
    """The builder: widget fields, question blocks and condition rows, bound or not."""

    def __init__(
        self,
        *,
        kind: str,
        catalogue: list[KeyChoice],
        data: Mapping | None = None,
        widget: Widget | None = None,
    ):
        self.kind = kind
        self.catalogue = {c.key: c for c in catalogue}
        self.errors: list[str] = []
        self.is_bound = data is not None
        self.fresh_prefixes: set[str] = set()
        if data is not None:
            self.fields = WidgetFieldsForm(data)
            self.questions = [
                QuestionForm(data, prefix=p) for p in prefixes(data, "questions", "q")
            ]
            self.rows = [ConditionRow.from_data(data, p) for p in prefixes(data, "conditions", "c")]
        elif widget is not None:
            targeting = widget.targeting or {}
            self.fields = WidgetFieldsForm(
                initial={
                    "name": widget.name,
                    "thank_you_message": widget.thank_you_message,
                    "language": widget.language,
                    "url_contains": widget.url_contains,
                    "match": targeting.get("match", "all"),
                }
            )
            self.questions = [
                question_form_of(f"q{i}", q) for i, q in enumerate(widget.questions.all())
            ]
            self.rows = [
                ConditionRow.from_condition(f"c{i}", c)
                for i, c in enumerate(targeting.get("conditions", []))
            ]
        else:
            self.fields = WidgetFieldsForm(
                initial={
                    "match": "all",
                    "thank_you_message": DEFAULT_THANK_YOU,
                    "language": DEFAULT_LANGUAGE,
                }
            )
            self.questions = [question_form_blank("q0")]
            self.rows = []
        if kind != Widget.Kind.POLL:
            self.questions = []

    # reading

    @property
    def is_poll(self) -> bool:
        return self.kind == Widget.Kind.POLL

    @property
    def match(self) -> str:
        return str(self.fields["match"].value() or "all")

    def rule_json(self, *, skip_blank: bool = False) -> dict:
        rows = [r for r in self.rows if not (skip_blank and r.is_blank)]
        return {"match": self.match, "conditions": [r.as_json() for r in rows]}

    def rule(self) -> Rule:
        """The rule as it stands, rows not yet given a key left out (for the preview)."""
        return parse_rule(self.rule_json(skip_blank=True))

    def question_specs(self) -> list[QuestionSpec]:
        return [q.spec() for q in self.questions]

    @property
    def cleaned(self) -> dict:
        return self.fields.cleaned_data

    # validating

    def is_valid(self) -> bool:
        valid = self.fields.is_valid()
        for question in self.questions:
            valid = question.is_valid() and valid
        self.rows = [self._precheck(r) for r in self.rows]
        try:
            parse_rule(self.rule_json())
        except RuleError as error:
            self.add_rule_errors(error)
        return valid and not self.errors and not any(r.error for r in self.rows)

    @staticmethod
    def _precheck(row: ConditionRow) -> ConditionRow:
        if row.key_changed and not row.is_blank:
            return replace(row, error="The attribute changed: check the operator and value.")
        if row.needs_operator:
            return replace(
                row, error="Choose the operator: “Update the form” shows this attribute's."
            )
        if row.missing_value:
            return replace(row, error="Give a value.")
        return row

    def add_rule_errors(self, error: RuleError) -> None:
        """Put each of the rule's errors on its condition row (or on the whole form)."""
        for index, message in error.errors.items():
            if index is None or not 0 <= index < len(self.rows):
                self.errors.append(message)
            elif not self.rows[index].error:
                self.rows[index] = replace(self.rows[index], error=message)

    def add_error(self, message: str) -> None:
        self.errors.append(message)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.errors
            or self.fields.errors
            or any(q.errors for q in self.questions)
            or any(r.error for r in self.rows)
        )

    # editing without JavaScript: the builder's buttons post `builder_action`

    def apply(self, action: str) -> None:
        """Add, remove or move a block as the button that submitted the form asks."""
        verb, _, prefix = action.partition(":")
        if verb == "add_condition":
            new = next_prefix((r.prefix for r in self.rows), "c")
            self.rows.append(ConditionRow(prefix=new))
            self.fresh_prefixes.add(new)
        elif verb == "remove_condition":
            self.rows = [r for r in self.rows if r.prefix != prefix]
        elif verb == "add_question" and self.is_poll:
            new = next_prefix((q.prefix for q in self.questions), "q")
            self.questions.append(question_form_blank(new))
            self.fresh_prefixes.add(new)
        elif verb == "remove_question":
            self.questions = [q for q in self.questions if q.prefix != prefix]
        elif verb in ("move_question_up", "move_question_down"):
            at = next((i for i, q in enumerate(self.questions) if q.prefix == prefix), None)
            to = None if at is None else at + (-1 if verb == "move_question_up" else 1)
            if to is not None and 0 <= to < len(self.questions):
                self.questions[at], self.questions[to] = self.questions[to], self.questions[at]
        self._unbind()

    def _unbind(self) -> None:
        """Adding, removing or updating is not saving: the form comes back with what was
        typed, not judged yet (no "required" on a name not typed so far)."""
        if not self.fields.is_bound:
            return
        self.fields = WidgetFieldsForm(initial=_typed(self.fields))
        self.questions = [
            QuestionForm(prefix=q.prefix, initial=_typed(q)) if q.is_bound else q
            for q in self.questions
        ]

    # showing

    def condition_views(self) -> list[ConditionView]:
        return [
            condition_view(r, self.catalogue, autofocus=r.prefix in self.fresh_prefixes)
            for r in self.rows
        ]

    def preview(self) -> dict:
        """What the widget preview shows: the form's current content, valid or not, with
        the widget's own words in its language."""
        language = str(self.fields["language"].value() or DEFAULT_LANGUAGE)
        texts = widget_texts(language)
        return {
            "kind": self.kind,
            "language": language if language in dict(LANGUAGES) else DEFAULT_LANGUAGE,
            "texts": texts,
            "thank_you_message": thank_you_in(
                language, str(self.fields["thank_you_message"].value() or "")
            ),
            "questions": [q.preview() for q in self.questions],
            "emotions": [texts[f"emotion_{value}"] for value in EMOTIONS],
        }
