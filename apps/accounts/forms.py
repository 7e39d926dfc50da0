import re
import time
import unicodedata

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.core.mail.message import sanitize_address

from apps.accounts.models import Membership, User
from apps.accounts.services import login_attempt_count, login_attempt_succeeded
from apps.common.http import client_key
from apps.common.once import OnceForm
from apps.common.throttling import wait_text

EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length
PASSWORD_HELP = "At least 8 characters, not entirely numeric, not a common password."  # noqa: S105


# A name is checked as mail programs and readers may see it: compatibility forms folded
# (NFKC: a full-width colon is a colon), and without what takes no room of its own between
# two characters: joiners, combining marks, Hangul fillers. The joiners (ZWNJ, ZWJ) are
# allowed in a name (Persian and Indic scripts, emoji need them); other format
# characters, such as a zero-width space, are not.
JOINERS = frozenset("\u200c\u200d")
FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
WEB_ADDRESS_RE = re.compile(r"[a-z][a-z0-9+.-]*://|\bwww\.", re.IGNORECASE)
# What mail programs make a link of, as a host: label.label… ending in a top-level domain
# of letters (or an IDN's "xn--"), with a path ("login.evil.example/verify"), three
# labels or more ("cohort-login.evil.example"), or one dot before a widely used ending
# ("booking.com", "evil.рф"). Company names hold one dot before other words ("Pvt.Ltd",
# "St.Gallen AG", "Яндекс.Такси", "E.ON"), which are kept; "Acme Inc." and "J.R. Books"
# have nothing, or a single letter, after the dot.
LETTERS_TLD = r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]+)"
ANY_HOST = rf"(?<![\w-])[\w-]+(?:\.[\w-]+)*\.{LETTERS_TLD}(?![\w-])"
# Widely used endings, and those reserved for examples (where they stand for any domain).
COMMON_TLDS = frozenset(
    "com net org info biz io co app dev ai me ly xyz top site online link click shop live "  # noqa: SIM905
    "pro cc tv ws pw tk ml ga cf gq ru su рф cn de uk eu fr nl us in br jp au ca es it pl "
    "ch at se no dk fi be cz pt gr tr ua kz ir vn id kr hk sg za mx ar cl "
    "example test invalid localhost".split()
)
COMMON_HOST = rf"(?<![\w.-])[\w-]+\.(?:{'|'.join(sorted(COMMON_TLDS))}|xn--[a-z0-9-]+)(?![\w-])"
LONG_HOST = r"(?<![\w.-])[\w-]+(?:\.[\w-]+){2,}\.?(?<=[a-z]{2})(?![\w-])"
IPV4 = r"(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![\w.])"
HOST_RE = re.compile(
    rf"{ANY_HOST}[/:]\S+|(?:{COMMON_HOST}|{LONG_HOST}|{IPV4})(?:[/:]\S*)?", re.IGNORECASE
)
EMAIL_RE = re.compile(rf"[^\s@]+@{ANY_HOST}", re.IGNORECASE)
SENT_WHERE = "in the invitations Cohort mails"


def account_name_check(name: str) -> None:
    """Refuse a name (folded onto one line) that holds a control or invisible formatting
    character, or anything mail programs make a link of: a web or email address, or a
    bare domain. Pure; raises ValidationError with the reason."""
    shown = unicodedata.normalize("NFKC", name)
    if any(unicodedata.category(character) == "Cc" for character in shown):
        raise forms.ValidationError("An account name cannot hold control characters.")
    if any(unicodedata.category(c) == "Cf" and c not in JOINERS for c in shown):
        raise forms.ValidationError(
            "An account name cannot hold invisible formatting characters, such as a "
            "zero-width space."
        )
    # Where each character looked at stands in the name, to quote what was found as shown.
    kept = [
        at
        for at, character in enumerate(shown)
        if character not in JOINERS
        and character not in FILLERS
        and unicodedata.category(character) not in ("Mn", "Me")
    ]
    # A spacing mark (Devanagari's vowel signs) is part of its word; \w does not know it.
    seen = "".join("a" if unicodedata.category(shown[at]) == "Mc" else shown[at] for at in kept)

    def quoted(found: re.Match) -> str:
        return shown[kept[found.start()] : kept[found.end() - 1] + 1]

    if WEB_ADDRESS_RE.search(seen):
        raise forms.ValidationError("An account name cannot hold a web address.")
    if found := EMAIL_RE.search(seen):
        raise forms.ValidationError(
            f"An account name cannot hold an email address: mail programs would make "
            f"“{quoted(found)}” a link {SENT_WHERE}."
        )
    if found := HOST_RE.search(seen):
        raise forms.ValidationError(
            f"An account name cannot hold a web address: mail programs would make "
            f"“{quoted(found)}” a link {SENT_WHERE}. Leave it out, or put a space after "
            "the dot."
        )


class AccountNameField(forms.CharField):
    """A team's name: shown in pages, and in the mails Cohort sends for the account
    (invitations, to people outside it). One line, as pages show it, with no control
    or invisible characters and no web or email address (`account_name_check`): a name is
    no place for a link that a mail from Cohort would carry to strangers."""

    def __init__(self, **kwargs):
        super().__init__(max_length=120, **kwargs)

    def to_python(self, value) -> str:
        return " ".join(super().to_python(value).split())

    def validate(self, value) -> None:
        super().validate(value)
        if len(value) <= self.max_length:  # longer: the length validator says so
            account_name_check(value)


def user_email_clean(raw: str, *, taken: str, user: User | None = None) -> str:
    """An address as users are stored and looked up at log-in: normalised, in lower case,
    within the column (lower case can be longer: "İ" becomes two characters) and no other
    user's (`taken` is the message for that)."""
    email = User.objects.normalize_email(raw.strip()).lower()
    if len(email) > EMAIL_MAX_LENGTH:
        raise forms.ValidationError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.")
    others = User.objects.filter(email__iexact=email)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        raise forms.ValidationError(taken)
    return email


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=EMAIL_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_HELP,
    )
    account_name = AccountNameField(
        label="Company or team name",
        help_text="Shown to your team in Cohort; you can rename it later on the Account page.",
    )

    def clean_email(self) -> str:
        email = user_email_clean(
            self.cleaned_data["email"], taken="An account with this email already exists. Log in."
        )
        return mailable_email(email)

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(
                    password, User(email=cleaned.get("email", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password", error)
        if password and self.errors and "password" not in self.errors:
            # The page comes back without it (a password is never written into a page):
            # say so, rather than leave an empty box the person believes they filled.
            self.add_error("password", "Type your password again: it is not sent back.")
        return cleaned


class NewAccountForm(OnceForm):
    """Another account, for a user who is logged in already (one who left their only
    account, or who runs a second team)."""

    account_name = SignupForm.base_fields["account_name"]


class AttemptsCountedMixin:
    """A log-in form whose failed attempts are counted (`login_attempt_count`): past the
    rate, the form refuses before the password is checked. `throttled` says so to the
    view. An attempt with the right password is taken back."""

    throttled = False

    def clean(self):
        email = (self.cleaned_data.get("username") or "").strip().lower()
        client, now = client_key(self.request), time.time()
        wait = login_attempt_count(email=email, client=client, now=now)
        if wait is not None:
            self.throttled = True
            raise forms.ValidationError(
                f"Too many attempts to log in. Try again {wait_text(wait)}.", code="throttled"
            )
        cleaned = super().clean()
        if self.get_user() is not None:
            login_attempt_succeeded(email=email, client=client, now=now)
        return cleaned


class NewPasswordForm(SetPasswordForm):
    """Setting a new password (through a reset link, or changing one): the rules in one
    line, as on the sign-up page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = PASSWORD_HELP
        self.fields["new_password2"].help_text = "The same again."


class CountedPasswordChangeForm(PasswordChangeForm, NewPasswordForm):
    """Changing a password: a wrong old password counts as a wrong log-in of the person
    from this client (`login_attempt_count`), so a session left open is no way to guess
    the password without end."""

    throttled = False

    def __init__(self, *args, client: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client

    def clean_old_password(self) -> str:
        email, now = self.user.email, time.time()
        wait = login_attempt_count(email=email, client=self.client, now=now)
        if wait is not None:
            self.throttled = True
            raise forms.ValidationError(
                f"Too many wrong passwords. Try again {wait_text(wait)}.", code="throttled"
            )
        old = super().clean_old_password()
        login_attempt_succeeded(email=email, client=self.client, now=now)
        return old


class LoginForm(AttemptsCountedMixin, AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def clean_username(self) -> str:
        # Emails are stored lowercased; "Ana@Example.com" logs in as ana@example.com.
        return self.cleaned_data["username"].strip().lower()


class AdminLoginForm(AttemptsCountedMixin, AdminAuthenticationForm):
    """The admin's log-in, counted like the app's."""


class AccountNameForm(forms.Form):
    name = AccountNameField(
        label="Account name",
        help_text="Your team sees it in Cohort. Renaming keeps the account's links as they are.",
    )


class ApiTokenForm(OnceForm):
    # Beside the account's name form on one page: its own field ids.
    prefix = "token"

    name = forms.CharField(
        max_length=80, label="Token name", help_text="What it is for, e.g. “privacy requests”."
    )


ROLE_HELP = (
    "Members see everything and look people up; admins also manage sites, widgets and "
    "privacy requests; owners also manage the plan, members and User Attributes."
)


class InviteForm(OnceForm):
    email = forms.EmailField(
        max_length=EMAIL_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        help_text="They get a link to join, which works for a week.",
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices, initial=Membership.Role.MEMBER, help_text=ROLE_HELP
    )

    def clean_email(self) -> str:
        return mailable_email(self.cleaned_data["email"].strip().lower())


def mailable_email(email: str) -> str:
    """An address the app can send mail to (invitations, password resets), within the
    column as stored: some that Django's field takes (a dotless i in the local part) cannot be
    written into a message header."""
    if len(email) > EMAIL_MAX_LENGTH:
        raise forms.ValidationError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.")
    try:
        # Django's mail writes a name part beyond ASCII as an encoded word, which mail
        # servers do not deliver (and a long one breaks the header).
        if not email.rpartition("@")[0].isascii():
            raise ValueError(email)
        sanitize_address(email, "utf-8")
    except ValueError as error:
        raise forms.ValidationError(
            "Mail cannot be sent to this address: write its name part (before @) in plain letters."
        ) from error
    return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class InvitationSignupForm(forms.Form):
    """A login for an invited address: the address is the invitation's."""

    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_HELP,
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password, User(email=self.email))
        return password
