from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from apps.common.models import AppendOnlyModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in. Email is the login; a user may belong to several accounts."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the person opened the link mailed to `email` (a sign-up's confirmation, an
    # invitation, a password reset); empty until then. Cohort sends invitations and
    # records DPA confirmations only for a confirmed address.
    email_confirmed_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class Account(models.Model):
    """The tenant. Everything a customer owns hangs off an account."""

    class Tier(models.TextChoices):
        BASIC = "basic", "Basic"
        PLUS = "plus", "Plus"
        BUSINESS = "business", "Business"
        SCALE = "scale", "Scale"

    class BillingVersion(models.IntegerChoices):
        V1 = 1, "V1"
        V2 = 2, "V2"
        V3 = 3, "V3"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.BASIC)
    billing_version = models.PositiveSmallIntegerField(
        choices=BillingVersion.choices, default=BillingVersion.V2
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tier__in=["basic", "plus", "business", "scale"]),
                name="account_tier_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(billing_version__in=[1, 2, 3]),
                name="account_billing_version_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"

    @property
    def can_manage_sites(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def can_change_plan(self) -> bool:
        return self.role == self.Role.OWNER


# What each role may do includes what the roles below it may.
ROLE_RANK = {Membership.Role.MEMBER: 0, Membership.Role.ADMIN: 1, Membership.Role.OWNER: 2}


class ApiToken(models.Model):
    """A personal API token of one member for one account. Only its hash is stored."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell it apart."
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "user"], name="apitoken_account_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Invitation(models.Model):
    """An owner's invitation for an email address to join the account with a role. The
    link mailed to the address carries a secret of which only the hash is stored; it
    works once, for the address it was sent to, until it expires or is withdrawn."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "email"], name="invitation_account_email")]

    def __str__(self) -> str:
        return f"{self.email} to {self.account} ({self.role})"

    def is_open(self, now) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class AccountEvent(AppendOnlyModel):
    """Append-only record of security-relevant changes to an account (API tokens, its
    name, its members and invitations)."""

    class Action(models.TextChoices):
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        RENAMED = "account_renamed", "Account renamed"
        MEMBER_INVITED = "member_invited", "Member invited"
        INVITATION_REVOKED = "invitation_revoked", "Invitation withdrawn"
        MEMBER_JOINED = "member_joined", "Member joined"
        ROLE_CHANGED = "role_changed", "Member's role changed"
        MEMBER_REMOVED = "member_removed", "Member removed"
        SITE_CREATED = "site_created", "Site created"
        SITE_CHANGED = "site_changed", "Site settings changed"
        SITE_DELETED = "site_deleted", "Site deleted with its data"
        WIDGET_DELETED = "widget_deleted", "Widget deleted with its responses"
        KEY_DELETED = "attribute_deleted", "Attribute key deleted with its values"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField()
    action = models.CharField(max_length=20, choices=Action.choices)
    # What the event is about, without secrets: e.g. a token's name and first characters.
    subject = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="event_account_created")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.subject}"
