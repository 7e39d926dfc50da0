"""One thing made per copy of a form.

A form that creates something (an account, a site, a widget, a token) carries a random
`form_id` written into the page. A copy sent twice with the same content (a double click,
a reload of the answer) makes its thing once: the second sending is told what the first
made and is answered with it. A copy sent again with other content (the person went back
and changed it) makes another. The sending is claimed in the shared cache, where adding a
key is atomic, for a day, and given back if nothing could be made.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django import forms
from django.core.cache import cache
from django.utils.crypto import salted_hmac

T = TypeVar("T")

FORM_ID_PATTERN = r"^[0-9a-f]{32}\Z"
CLAIM_SECONDS = 86400
# While the first sending is still making its thing, the second waits this long for it,
# so that both answers lead to the same place.
WAIT_SECONDS = 3.0
WAIT_STEP_SECONDS = 0.05
# How often a sending tries to claim a copy whose earlier claims were given back.
CLAIM_ATTEMPTS = 3
_PENDING = "-"


def new_form_id() -> str:
    return secrets.token_hex(16)


def form_id_field() -> forms.RegexField:
    """The hidden field of a form that makes its thing once (see `OnceForm`)."""
    return forms.RegexField(regex=FORM_ID_PATTERN, widget=forms.HiddenInput, required=False)


class OnceForm(forms.Form):
    """A form whose unbound copy carries a new `form_id`."""

    form_id = form_id_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["form_id"] = new_form_id()


@dataclass(frozen=True)
class Once(Generic[T]):
    """What one sending of a form made: `made`, or None when an earlier sending of the
    same copy took it on; then `earlier` is what that one made, as its `remember` wrote
    it, and `pending` says that it was still at work after the wait (it may yet fail:
    nothing may be said to have been done)."""

    made: T | None
    earlier: str = ""
    pending: bool = False


def make_once(
    *,
    scope: str,
    form_id: str,
    content: object,
    make: Callable[[], T],
    remember: Callable[[T], str],
) -> Once[T]:
    """`make()` unless this copy of the form (`form_id` within `scope`, e.g. the kind of
    form and its user) made its thing from the same `content` (what the form sent, as a
    value whose repr is stable) already. A sending without a form id (a script, an old
    page) always makes."""
    if not form_id:
        return Once(make())
    key = _key(scope, form_id, content)
    for _ in range(CLAIM_ATTEMPTS):
        if cache.add(key, _PENDING, timeout=CLAIM_SECONDS):
            break
        earlier = _earlier(key)
        if earlier.earlier or earlier.pending:
            return earlier
        # The claim was given back while this sending waited: the first could not make
        # its thing (a mail server refused), and this one tries.
    else:
        return Once(None, pending=True)
    try:
        made = make()
    except BaseException:
        cache.delete(key)
        raise
    cache.set(key, remember(made), timeout=CLAIM_SECONDS)
    return Once(made)


def made_before(*, scope: str, form_id: str, content: object) -> Once[None]:
    """What an earlier sending of this copy did (`earlier` "" and not `pending` if none
    did): for a form whose second sending finds its object gone (a deletion done)."""
    return _earlier(_key(scope, form_id, content)) if form_id else Once(None)


def _key(scope: str, form_id: str, content: object) -> str:
    # Keyed: what a form sent (an address invited, a person's user id) cannot be found
    # in the shared cache by hashing guesses.
    digest = salted_hmac("form-copy", repr(content), algorithm="sha256").hexdigest()[:32]
    return f"form-copy:{scope}:{form_id}:{digest}"


def _earlier(key: str) -> Once:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = cache.get(key)
        if value != _PENDING:
            return Once(None, value or "")
        if time.monotonic() >= deadline:
            return Once(None, pending=True)
        time.sleep(WAIT_STEP_SECONDS)
