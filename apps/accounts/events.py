"""The account's audit trail of changes made in it (AccountEvent): written by the services
of every app that changes an account's sites, members or data. It imports only models, so
any app's services can record an event."""

from apps.accounts.models import Account, AccountEvent, User


def account_event_record(*, account: Account, actor: User | None, action: str, subject: str):
    """Record a change: who (None: Cohort itself, or staff without a login here), what,
    and about what, without secrets or visitors' data."""
    return AccountEvent.objects.create(
        account=account,
        actor=actor,
        actor_email=actor.email if actor else "",
        action=action,
        subject=subject[: AccountEvent._meta.get_field("subject").max_length],
    )
