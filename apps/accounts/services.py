import hashlib
import secrets
import smtplib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.events import account_event_record
from apps.accounts.models import (
    ROLE_RANK,
    Account,
    AccountEvent,
    ApiToken,
    Invitation,
    Membership,
    User,
)
from apps.accounts.selectors import email_unconfirmed_refusal, invitation_usable, token_hash
from apps.billing.models import PlanChange
from apps.common.errors import ApplicationError
from apps.common.once import Once, make_once
from apps.common.throttling import (
    Rate,
    throttle_clear,
    throttle_hit,
    throttle_hits,
    throttle_refund,
    wait_text,
)
from apps.sites.models import Site
from apps.sites.selectors import site_public_forget
from apps.sites.services import sites_retire


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "account"
    slug, n = base, 1
    while Account.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def account_create(
    *,
    name: str,
    owner: User,
    tier: str = Account.Tier.BASIC,
    billing_version: int = Account.BillingVersion.V2,
) -> Account:
    """A new account with `owner` as its owner, and the opening entry of its plan history."""
    for _ in range(5):
        try:
            with transaction.atomic():
                account = Account.objects.create(
                    name=name, slug=_unique_slug(name), tier=tier, billing_version=billing_version
                )
            break
        except IntegrityError:  # a concurrent sign-up took the slug; pick the next one
            continue
    else:
        raise RuntimeError("Could not allocate an account slug.")
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    PlanChange.objects.create(
        account=account,
        changed_by=owner,
        changed_by_email=owner.email,
        source=PlanChange.Source.SIGNUP,
        to_tier=tier,
        to_billing_version=billing_version,
    )
    return account


@transaction.atomic
def user_signup(
    *, email: str, password: str, account_name: str, name: str = ""
) -> tuple[User, Account]:
    """Create a user and their first account (Basic tier, billing V2), owned by them."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as error:  # a second click, or another sign-up, came first
        raise ApplicationError(
            "email_taken", "An account with this email already exists. Log in."
        ) from error
    return user, account_create(name=account_name, owner=user)


# --- confirming a login's address ---------------------------------------------------------

EMAIL_CONFIRM_SALT = "accounts.email-confirm"
EMAIL_CONFIRM_DAYS = 7


def email_confirmation_send(*, user: User, confirm_url: Callable[[str], str]) -> None:
    """Mail the user a link (`confirm_url` makes its address from the signed token) that
    confirms their address; it works for a week, and only while the login keeps that
    address. Raises `mail_failed` when the mail cannot be sent."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=EMAIL_CONFIRM_SALT)
    context = {"user": user, "link": confirm_url(token), "days": EMAIL_CONFIRM_DAYS}
    try:
        send_mail(
            subject="Confirm your address for Cohort",
            message=render_to_string("accounts/confirm_email.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
    except (OSError, smtplib.SMTPException, ValueError) as error:
        raise ApplicationError(
            "mail_failed",
            f"The link to confirm your address could not be mailed "
            f"({error.__class__.__name__}). Send it again in a moment.",
        ) from error


def email_confirmation_resend(*, user: User, confirm_url: Callable[[str], str]) -> None:
    """`email_confirmation_send` on request, a few times an hour per login."""
    limit = ("confirm-mail", str(user.pk), Rate.parse(settings.COHORT_CONFIRM_MAIL_RATE))
    wait = throttle_hits([limit])
    if wait is not None:
        raise ApplicationError(
            "too_many_requests",
            f"The link was sent several times lately. Try again {wait_text(wait)}, and "
            "look in your spam folder meanwhile.",
        )
    email_confirmation_send(user=user, confirm_url=confirm_url)


def email_confirm(*, token: str) -> User:
    """Confirm the address a link was mailed to; the login it names."""
    try:
        data = signing.loads(
            token, salt=EMAIL_CONFIRM_SALT, max_age=timedelta(days=EMAIL_CONFIRM_DAYS)
        )
    except signing.SignatureExpired:
        raise ApplicationError(
            "link_expired",
            f"This link is older than {EMAIL_CONFIRM_DAYS} days. Log in and send a new one.",
        ) from None
    except signing.BadSignature:
        raise ApplicationError(
            "link_invalid", "This link is not whole: copy all of it from the mail."
        ) from None
    user = User.objects.filter(pk=data["user"], email=data["email"]).first()
    if user is None:
        raise ApplicationError(
            "link_invalid", "This link is for an address that no Cohort login has now."
        )
    email_confirmed(user=user)
    return user


def email_confirmed(*, user: User) -> None:
    """Record that the user opened a link mailed to their address (once: the first time
    stands)."""
    if user.email_confirmed_at is not None:
        return
    now = timezone.now()
    User.objects.filter(pk=user.pk, email_confirmed_at=None).update(email_confirmed_at=now)
    user.email_confirmed_at = now


TOKEN_PREFIX = "ck_"  # noqa: S105 - the public marker of Cohort tokens, not a secret


def account_delete(*, account: Account) -> list[int]:
    """Delete an account with its sites and all of their data. Every process stops
    serving the sites' public endpoints on the next call (their kept copies are renewed),
    instead of answering for a deleted site until its time bound runs out. The sites are
    retired as a site's deletion retires them (`site_retire`), their rows left to
    `sites_erase`: the ids of the sites to erase, once the caller's transaction (if any)
    has committed."""
    with transaction.atomic():
        sites = list(Site.objects.filter(account=account).values_list("pk", "key"))
        sites_retire(site_ids=[pk for pk, _ in sites])
        # Deleted sites still being erased are left to the erasure, not to the account.
        waiting = list(Site.with_deleted.filter(account=account).values_list("pk", flat=True))
        Site.with_deleted.filter(pk__in=waiting).update(account=None)
        account.delete()
    for _, key in sites:
        site_public_forget(key=key)
    return waiting


def api_token_create(
    *, account: Account, user: User, name: str, raw: str | None = None
) -> tuple[ApiToken, str]:
    """A new personal token; the raw value is returned once and never stored."""
    if not Membership.objects.filter(account=account, user=user).exists():
        raise ApplicationError("not_a_member", "Only members of the account can hold its tokens.")
    raw = raw or TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            account=account, user=user, name=name, prefix=raw[:10], token_hash=token_hash(raw)
        )
        _event(account, user, AccountEvent.Action.TOKEN_CREATED, _token_subject(token))
    return token, raw


def api_token_create_once(
    *, account: Account, user: User, name: str, form_id: str
) -> tuple[ApiToken, str] | None:
    """`api_token_create`, once per copy of the token form: None when a copy sent before
    (a reload, or a second click at the same moment) made its token with that name, which
    is shown to that sending only."""
    once = make_once(
        scope=f"token:{user.pk}",
        form_id=form_id,
        content=name,
        make=lambda: api_token_create(account=account, user=user, name=name),
        remember=lambda made: str(made[0].pk),
    )
    return once.made


def account_create_once(*, name: str, owner: User, form_id: str) -> Once[Account]:
    """`account_create`, once per copy of the new-account form; an earlier sending's
    account is named by its slug."""
    return make_once(
        scope=f"account:{owner.pk}",
        form_id=form_id,
        content=name,
        make=lambda: account_create(name=name, owner=owner),
        remember=lambda account: account.slug,
    )


@transaction.atomic
def account_rename(*, account: Account, actor: User, name: str) -> bool:
    """Give the account a new name (its slug, and so its URLs, stay); whether it changed."""
    # FOR NO KEY UPDATE: the foreign-key checks of rows that name the account (its audit
    # events, written while owner rows are locked) do not wait for it.
    old = (
        Account.objects.select_for_update(no_key=True)
        .values_list("name", flat=True)
        .get(pk=account.pk)
    )
    account.name = name
    if name == old:
        return False
    account.save(update_fields=["name"])
    _event(account, actor, AccountEvent.Action.RENAMED, f"{old} → {name}")
    return True


def _event(account: Account, actor: User | None, action: str, subject: str) -> None:
    account_event_record(account=account, actor=actor, action=action, subject=subject)


def _token_subject(token: ApiToken) -> str:
    return f"{token.name} ({token.prefix}…) of {token.user.email}"


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: User | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _event(
            token.account,
            by or token.user,
            AccountEvent.Action.TOKEN_REVOKED,
            _token_subject(token),
        )


@transaction.atomic
def membership_delete(*, membership: Membership, by: User | None = None) -> None:
    """Remove a member from an account, revoking the tokens they held for it: a token
    must not come back to life if the same person is made a member again."""
    held = ApiToken.objects.filter(
        account_id=membership.account_id, user_id=membership.user_id, revoked_at__isnull=True
    ).select_related("account", "user")
    for token in held:
        api_token_revoke(token=token, by=by)
    membership.delete()


def api_token_touch(*, token: ApiToken) -> None:
    """Note when a token was last used, at most once a minute."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def _hashed(*parts: str | None) -> str:
    """A counter's key for values it must not show (an email address)."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:32]


def _login_limits(*, email: str, client: str | None) -> list[tuple[str, str, Rate]]:
    """A log-in attempt counts against its email address from its client, and against
    its client. The address is counted per client, so that nobody can lock a person out
    by guessing their password from elsewhere."""
    per_email = Rate.parse(settings.COHORT_LOGIN_RATE_PER_EMAIL)
    limits = [("login-email", _hashed(email, client), per_email)]
    if client:
        limits.append(("login-client", client, Rate.parse(settings.COHORT_LOGIN_RATE_PER_CLIENT)))
    return limits


def login_attempt_count(*, email: str, client: str | None, now: float) -> int | None:
    """Count a log-in attempt made at `now` (`time.time()`): None while it is within the
    rates, else the seconds until an attempt may be made."""
    return throttle_hits(_login_limits(email=email, client=client), now=now)


def login_attempt_succeeded(*, email: str, client: str | None, now: float) -> None:
    """The attempt counted at `now` had the right password: only wrong ones count, so
    that people who log in often (or many colleagues behind one address) are never
    refused for it."""
    throttle_refund(_login_limits(email=email, client=client), now=now)


def login_attempts_forgiven(*, email: str, client: str | None, now: float) -> None:
    """The person set a new password through a reset link: the wrong passwords counted
    against their address from this client no longer keep them out."""
    [per_email, *_] = _login_limits(email=email, client=client)
    throttle_clear([per_email], now=now)


# How many times the per-address rate an inbox takes links from every client together.
RESET_INBOX_SHARE = 4


def password_reset_request_count(*, email: str, client: str | None) -> int | None:
    """Count a request for a password reset link: the seconds to wait before the next,
    or None. Each client is limited per address (COHORT_PASSWORD_RESET_RATE_PER_EMAIL)
    and in all (…_PER_CLIENT): counted per address from everywhere alone, five requests
    from anyone kept a person from their own reset. The address's inbox takes
    RESET_INBOX_SHARE times the per-address rate from every client together, so a
    flood of links needs many clients, and stopping someone's reset four times as many
    requests. The counts never depend on whether the address has a login."""
    per_email = Rate.parse(settings.COHORT_PASSWORD_RESET_RATE_PER_EMAIL)
    limits = [("reset-email", _hashed("reset", email, client), per_email)]
    if client:
        per_client = Rate.parse(settings.COHORT_PASSWORD_RESET_RATE_PER_CLIENT)
        limits.append(("reset-client", client, per_client))
    wait = throttle_hits(limits)
    if wait is not None:
        return wait
    inbox = Rate(limit=per_email.limit * RESET_INBOX_SHARE, period=per_email.period)
    return throttle_hit(scope="reset-inbox", ident=_hashed("reset", email), rate=inbox)


def signup_attempt_count(*, client: str | None) -> int | None:
    """Count a sign-up against its client address (see `login_attempt_count`)."""
    if not client:
        return None
    rate = Rate.parse(settings.COHORT_SIGNUP_RATE_PER_CLIENT)
    return throttle_hits([("signup-client", client, rate)])


# --- members and invitations -----------------------------------------------------------

INVITATION_DAYS = 7


def _role_label(role: str) -> str:
    return Membership.Role(role).label.lower()


def invitation_create(
    *, account: Account, email: str, role: str, by: User, accept_url: Callable[[str], str]
) -> Invitation:
    """Invite an address to join the account with a role, and mail it the link
    (`accept_url` makes the link's address from its secret). An open invitation for the
    same address is replaced: its link stops working. A mail that cannot be sent keeps
    nothing."""
    email = email.strip().lower()
    refusal = email_unconfirmed_refusal(by)
    if refusal is not None:
        raise refusal
    if role not in Membership.Role.values:
        raise ApplicationError("invalid_role", "Choose owner, admin or member.")
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ApplicationError("already_a_member", f"{email} is a member of {account.name}.")
    wait = throttle_hits(
        [("invite-account", str(account.pk), Rate.parse(settings.COHORT_INVITATIONS_RATE))]
    )
    if wait is not None:
        raise ApplicationError(
            "too_many_invitations",
            f"{account.name} sent too many invitations lately. Try again {wait_text(wait)}.",
        )
    now = timezone.now()
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        # The address's open invitation is replaced: withdrawn, on the record.
        for earlier in Invitation.objects.filter(
            account=account, email=email, accepted_at=None, revoked_at=None
        ).select_related("account"):
            invitation_revoke(invitation=earlier, by=by)
        invitation = Invitation.objects.create(
            account=account,
            email=email,
            role=role,
            token_hash=token_hash(raw),
            invited_by=by,
            expires_at=now + timedelta(days=INVITATION_DAYS),
        )
        _event(account, by, AccountEvent.Action.MEMBER_INVITED, f"{email} as {_role_label(role)}")
        link = accept_url(raw)
        context = {"invitation": invitation, "by": by, "link": link, "days": INVITATION_DAYS}
        try:
            send_mail(
                # One line, whatever the account's name holds.
                subject=f"Join {' '.join(account.name.split())} on Cohort",
                message=render_to_string("accounts/invitation_email.txt", context),
                from_email=None,
                recipient_list=[email],
            )
        except (OSError, smtplib.SMTPException, ValueError) as error:
            raise ApplicationError(
                "mail_failed",
                f"The invitation could not be mailed ({error.__class__.__name__}); nothing "
                "was kept. Try again in a moment.",
            ) from error
    return invitation


def invitation_create_once(
    *,
    account: Account,
    email: str,
    role: str,
    by: User,
    accept_url: Callable[[str], str],
    form_id: str,
) -> Once[Invitation]:
    """`invitation_create`, once per copy of the invitation form: sent twice, it would
    mail a second link that makes the first one stop working."""
    return make_once(
        scope=f"invite:{account.pk}:{by.pk}",
        form_id=form_id,
        content=(email.strip().lower(), role),
        make=lambda: invitation_create(
            account=account, email=email, role=role, by=by, accept_url=accept_url
        ),
        remember=lambda invitation: invitation.email,
    )


def invitation_revoke(*, invitation: Invitation, by: User) -> bool:
    """Withdraw an invitation not used yet: its link stops working. Whether it was open."""
    withdrawn = Invitation.objects.filter(
        pk=invitation.pk, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    if withdrawn:
        _event(invitation.account, by, AccountEvent.Action.INVITATION_REVOKED, invitation.email)
    return bool(withdrawn)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Make the invited person a member. The link works once, before it expires, and for
    the address it was sent to only."""
    locked = Invitation.objects.select_for_update().select_related("account").get(pk=invitation.pk)
    if not invitation_usable(invitation=locked, now=timezone.now()):
        raise ApplicationError(
            "invitation_closed", "This invitation was used already, withdrawn, or has expired."
        )
    if user.email.lower() != locked.email:
        raise ApplicationError(
            "invitation_for_another_email",
            f"This invitation is for {locked.email}; you are logged in as {user.email}.",
        )
    email_confirmed(user=user)  # the link was mailed to this address
    membership, joined = Membership.objects.get_or_create(
        account=locked.account, user=user, defaults={"role": locked.role}
    )
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    if joined:
        subject = f"{user.email} as {_role_label(locked.role)}"
        _event(locked.account, user, AccountEvent.Action.MEMBER_JOINED, subject)
    return membership


@transaction.atomic
def invitation_signup(*, invitation: Invitation, password: str) -> User:
    """A login for the invited address, made a member by the invitation."""
    # The invitation first: a second copy of the same request waits here, then finds it
    # used, instead of racing to make the login twice.
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation_usable(invitation=locked, now=timezone.now()):
        raise ApplicationError(
            "invitation_closed", "This invitation was used already, withdrawn, or has expired."
        )
    try:
        with transaction.atomic():
            # The invitation's link was mailed to this address: it is confirmed.
            user = User.objects.create_user(
                email=locked.email, password=password, email_confirmed_at=timezone.now()
            )
    except IntegrityError:
        raise ApplicationError(
            "email_taken", f"{locked.email} has a Cohort login already: log in with it."
        ) from None
    invitation_accept(invitation=locked, user=user)
    return user


def _owners_locked(account: Account) -> list[int]:
    """The ids of the account's owner memberships, locked until commit: two owners
    demoting or removing each other at once cannot leave the account without one."""
    owners = Membership.objects.select_for_update().filter(
        account=account, role=Membership.Role.OWNER
    )
    return list(owners.order_by("pk").values_list("pk", flat=True))


def _last_owner_refusal(membership: Membership) -> ApplicationError:
    return ApplicationError(
        "last_owner",
        f"{membership.user.email} is the only owner of {membership.account.name}: make "
        "another member owner first.",
    )


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, by: User) -> bool:
    """Give a member another role; whether it changed. The last owner keeps theirs."""
    if role not in Membership.Role.values:
        raise ApplicationError("invalid_role", "Choose owner, admin or member.")
    owners = _owners_locked(membership.account)
    current = Membership.objects.select_for_update().get(pk=membership.pk)
    if current.role == role:
        return False
    if owners == [current.pk]:
        raise _last_owner_refusal(membership)
    before = current.role
    current.role = role
    current.save(update_fields=["role"])
    subject = f"{membership.user.email}: {_role_label(before)} → {_role_label(role)}"
    _event(membership.account, by, AccountEvent.Action.ROLE_CHANGED, subject)
    _invitations_sent_withdraw(current, by=by, above=role)
    return True


def _invitations_sent_withdraw(membership: Membership, *, by: User, above: str | None) -> None:
    """Withdraw the open invitations the member sent (all of them, or those for a role
    above `above`): what someone removed or demoted asked for must not bring them, or
    another address of theirs, back in with the rights they lost. Each is recorded."""
    sent = Invitation.objects.filter(
        account_id=membership.account_id,
        invited_by_id=membership.user_id,
        accepted_at=None,
        revoked_at=None,
    ).select_related("account")
    for invitation in sent:
        if above is None or ROLE_RANK[invitation.role] > ROLE_RANK[above]:
            invitation_revoke(invitation=invitation, by=by)


@transaction.atomic
def user_invitations_withdraw(*, user: User, by: User) -> None:
    """Withdraw every open invitation `user` sent, in each of their accounts (each
    recorded): for a login staff deactivated, whose invitations must not bring them, or
    another address of theirs, back in."""
    for membership in Membership.objects.filter(user=user).select_related("account"):
        _invitations_sent_withdraw(membership, by=by, above=None)


@transaction.atomic
def membership_add(*, membership: Membership, by: User) -> Membership:
    """Save a new membership made without an invitation (by Cohort staff, in the admin),
    in the account's audit trail as a member who joined."""
    membership.save()
    subject = f"{membership.user.email} as {_role_label(membership.role)}, added by Cohort staff"
    _event(membership.account, by, AccountEvent.Action.MEMBER_JOINED, subject)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by: User) -> None:
    """Take a member out of the account (or let them leave it), revoking their API tokens
    for it. The last owner stays."""
    owners = _owners_locked(membership.account)
    if owners == [membership.pk]:
        raise _last_owner_refusal(membership)
    _invitations_sent_withdraw(membership, by=by, above=None)
    membership_delete(membership=membership, by=by)
    _event(membership.account, by, AccountEvent.Action.MEMBER_REMOVED, membership.user.email)
