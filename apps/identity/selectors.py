"""Reads of people and their history: Visitor Lookup."""

from django.db.models import Prefetch, QuerySet

from apps.feedback_targeting.models import Response
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.sites.models import Site
from apps.user_attributes.models import AttributeValue, ValueType
from apps.user_attributes.validation import EMAIL_KEY


def normalize_lookup_terms(
    *, user_id: str | None, email: str | None
) -> tuple[str | None, str | None]:
    user_id = (user_id or "").strip() or None
    email = (email or "").strip().lower() or None
    return user_id, email


def profiles_matching(*, site: Site, user_id: str | None, email: str | None) -> QuerySet[Profile]:
    """Profiles of the site with this user id or this email (either matches).

    The email matches the `email` attribute and the email a visitor gave with a feedback
    consent. Given both, as the privacy rules ask, every profile of either is found.
    """
    user_id, email = normalize_lookup_terms(user_id=user_id, email=email)
    # One `pk IN (a UNION b UNION c)` rather than `a OR pk IN b OR pk IN c`: PostgreSQL
    # answers an OR of subqueries by scanning every profile of the site.
    sources: list[QuerySet] = []
    if user_id:
        sources.append(Profile.objects.filter(site=site, user_id=user_id).values("pk"))
    if email:
        sources.append(
            AttributeValue.objects.filter(
                site=site, key=EMAIL_KEY, value_type=ValueType.STRING, string_value=email
            ).values("profile_id")
        )
        sources.append(
            Response.objects.filter(site=site, email=email, consent_to_connect=True)
            .order_by()
            .values("profile_id")
        )
    if not sources:
        return Profile.objects.none()
    ids = sources[0].union(*sources[1:]) if len(sources) > 1 else sources[0]
    return Profile.objects.filter(site=site, pk__in=ids)


def person_lookup(*, site: Site, user_id: str | None, email: str | None) -> list[Profile]:
    """Every matching profile with its attributes, devices, sessions and responses."""
    return list(
        profiles_matching(site=site, user_id=user_id, email=email)
        .prefetch_related(
            Prefetch(
                "attributes",
                queryset=AttributeValue.objects.filter(site=site).order_by("key"),
            ),
            Prefetch(
                "visitors", queryset=Visitor.objects.filter(site=site).order_by("first_seen_at")
            ),
            Prefetch(
                "responses",
                queryset=Response.objects.filter(site=site)
                .select_related("widget")
                .prefetch_related("widget__questions")
                .order_by("-created_at"),
            ),
            Prefetch(
                "sessions",
                queryset=Session.objects.filter(site=site)
                .select_related("visitor")
                .order_by("-started_at"),
            ),
        )
        .order_by("user_id", "pk")
    )


def privacy_audit_trail(*, account, limit: int = 50) -> QuerySet[PrivacyAudit]:
    return PrivacyAudit.objects.filter(account=account)[:limit]
