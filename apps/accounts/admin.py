from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.forms import account_name_check, user_email_clean
from apps.accounts.models import Account, AccountEvent, ApiToken, Invitation, Membership, User
from apps.accounts.selectors import (
    account_row_counts,
    accounts_left_without_owner,
    accounts_owned_only_by,
)
from apps.accounts.services import (
    account_delete,
    account_rename,
    api_token_revoke,
    membership_add,
    membership_remove,
    membership_role_change,
    user_invitations_withdraw,
)
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.common.admin import CascadeDeleteAdminMixin, ReadOnlyAdminMixin

PLAN_FIELDS = ("tier", "billing_version")
EMAIL_TAKEN = "A user with this email already exists."


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return user_email_clean(self.cleaned_data["email"], taken=EMAIL_TAKEN)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        # In lower case, as the log-in form looks it up: "Ana@Example.com" saved as typed
        # could never log in again.
        return user_email_clean(self.cleaned_data["email"], taken=EMAIL_TAKEN, user=self.instance)


NO_OWNER_LEFT = (
    "{names} would have no owner left: make another member owner first, or delete the account."
)


def _orphaned_error(orphaned) -> ValidationError:
    return ValidationError(NO_OWNER_LEFT.format(names=", ".join(a.name for a in orphaned)))


class MembershipForm(forms.ModelForm):
    """A membership stays with its person and its account: moving one would carry the
    person's API tokens of the old account along unseen. Remove it and add another."""

    class Meta:
        model = Membership
        fields = ("account", "user", "role")

    def clean(self):
        cleaned = super().clean()
        moved = {"account", "user"} & set(self.changed_data)
        if self.instance.pk and moved:
            raise ValidationError(
                "A membership cannot move to another person or account: remove it and add "
                "a new one."
            )
        return cleaned


class MembershipFormSet(BaseInlineFormSet):
    """Memberships edited inline never leave an account without an owner: nobody could
    then manage its plan, its members or its User Attributes. Additions, role changes
    and removals go through the services the Account page uses, so each is in the
    account's audit trail, and a member removed loses their API tokens for it."""

    staff = None  # who is editing (MembershipInline.get_formset)
    _saving = False

    @property
    def initial_forms(self):
        forms = super().initial_forms
        if not self._saving:
            return forms
        # Saved with the promotions to owner first: handing an account over in one save
        # never passes through a moment without an owner, which the services refuse.
        return sorted(forms, key=lambda form: not self._promoted(form))

    @staticmethod
    def _promoted(form) -> bool:
        data = getattr(form, "cleaned_data", None) or {}
        return "role" in form.changed_data and data.get("role") == Membership.Role.OWNER

    def save(self, commit=True):
        self._saving = True
        try:
            return super().save(commit)
        finally:
            self._saving = False

    def save_new(self, form, commit=True):
        if not commit:
            return super().save_new(form, commit)
        return membership_add(membership=form.save(commit=False), by=self.staff)

    def save_existing(self, form, obj, commit=True):
        if not commit or "role" not in form.changed_data:
            return super().save_existing(form, obj, commit)
        membership_role_change(membership=obj, role=form.cleaned_data["role"], by=self.staff)
        return obj

    def delete_existing(self, obj, commit=True) -> None:
        if commit:
            membership_remove(membership=obj, by=self.staff)

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        owned = [
            form.cleaned_data["account"].pk
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
            if form.cleaned_data.get("role") == Membership.Role.OWNER
        ]
        orphaned = accounts_left_without_owner(
            changed=[form.instance.pk for form in self.initial_forms], owned_after=owned
        )
        if orphaned:
            raise _orphaned_error(orphaned)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fields = ("account", "user", "role", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("account", "user")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.staff = request.user  # named as who revoked a removed member's tokens
        return formset


class UserMembershipInline(MembershipInline):
    fk_name = "user"
    verbose_name_plural = "Accounts"


class AccountMembershipInline(MembershipInline):
    fk_name = "account"
    verbose_name_plural = "Members"


# An account page lists its members as rows to edit up to this many; past it, it links to
# them on the member list: each row is four fields, and a page of a few hundred posted
# more than a request may carry (DATA_UPLOAD_MAX_NUMBER_FIELDS), plan change included.
MEMBERS_EDITED_ON_THE_ACCOUNT_PAGE = 100


class PlanChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The account's plan history, read-only: it is written only by the plan service."""

    model = PlanChange
    extra = 0
    fields = (
        "created_at",
        "source",
        "from_tier",
        "to_tier",
        "from_billing_version",
        "to_billing_version",
        "changed_by",
    )
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = "Plan history"


@admin.register(User)
class UserAdmin(CascadeDeleteAdminMixin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("email", "name", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name", "memberships__account__name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")

    def get_deleted_objects(self, objs, request):
        """The only owner of an account is not deleted: the page names the account, and
        staff make another member its owner (or delete the account) first."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [
            f"{account.name} (account): {user.email} is its only owner; make another member "
            "owner first, or delete the account"
            for user, account in accounts_owned_only_by(users=objs)
        ]
        return deleted, model_count, perms_needed, [*protected, *kept]

    inlines = [UserMembershipInline]

    def save_model(self, request, obj: User, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_invitations_withdraw(user=obj, by=request.user)

    def delete_model(self, request, obj: User) -> None:
        self.delete_queryset(request, User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        # Each membership leaves as on the Account page: the accounts' audit trails say
        # who went (the tokens are revoked, then deleted with the login).
        for membership in Membership.objects.filter(user__in=queryset).select_related(
            "account", "user"
        ):
            membership_remove(membership=membership, by=request.user)
        super().delete_queryset(request, queryset)


class AccountAdminForm(forms.ModelForm):
    """A new name follows the rules of the Account page (`account_name_check`); a name
    given before those rules stays as it is while staff change something else."""

    class Meta:
        model = Account
        fields = ("name", "slug", "tier", "billing_version")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name == self.instance.name:
            return name
        name = " ".join(name.split())  # one line, as in the mails' subjects
        account_name_check(name)
        return name


@admin.register(Account)
class AccountAdmin(CascadeDeleteAdminMixin, admin.ModelAdmin):
    """Staff change the tier and billing version here; the change goes through the plan
    service so it is recorded in the plan history like any other."""

    form = AccountAdminForm

    list_display = ("name", "slug", "tier", "billing_version", "member_count", "created_at")
    list_filter = ("tier", "billing_version")
    search_fields = ("name", "slug", "memberships__user__email")
    readonly_fields = ("created_at", "members")
    fields = ("name", "slug", "tier", "billing_version", "created_at", "members")
    inlines = [AccountMembershipInline, PlanChangeInline]

    def get_inlines(self, request, obj):
        if obj is not None and obj._member_count > MEMBERS_EDITED_ON_THE_ACCOUNT_PAGE:
            return [PlanChangeInline]  # `members` links to them
        return self.inlines

    def get_queryset(self, request):
        # A subquery, not a join: a search by member email joins the memberships again,
        # which would multiply a joined count (and the rows it reads).
        counted = (
            Membership.objects.filter(account=OuterRef("pk"))
            .order_by()
            .values("account")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_member_count=Coalesce(Subquery(counted), 0))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Account) -> int:
        return obj._member_count

    @admin.display(description="Members")
    def members(self, obj: Account) -> str:
        if obj.pk is None:
            return "—"
        listed = reverse("admin:accounts_membership_changelist")
        return format_html(
            '<a href="{}?account__id__exact={}">{} member{}: add, change roles, remove</a>',
            listed,
            obj.pk,
            obj._member_count,
            "" if obj._member_count == 1 else "s",
        )

    def has_add_permission(self, request) -> bool:
        # An account is born with its owner and the opening entry of its plan history,
        # which only sign-up (accounts.services.account_create) provides.
        return False

    def deletion_counts(self, objs) -> dict[str, int]:
        return account_row_counts(accounts=list(objs))

    def delete_model(self, request, obj: Account) -> None:
        self.erase_once_committed(request, account_delete(account=obj))

    def delete_queryset(self, request, queryset) -> None:
        site_ids = [pk for account in queryset for pk in account_delete(account=account)]
        self.erase_once_committed(request, site_ids)

    def save_model(self, request, obj: Account, form, change: bool) -> None:
        if "name" in form.changed_data:
            account_rename(account=obj, actor=request.user, name=form.cleaned_data["name"])
        other_fields = [n for n in form.changed_data if n not in (*PLAN_FIELDS, "name")]
        if other_fields:
            obj.save(update_fields=other_fields)
        if any(name in form.changed_data for name in PLAN_FIELDS):
            plan_change(
                account=obj,
                tier=form.cleaned_data["tier"],
                billing_version=form.cleaned_data["billing_version"],
                changed_by=request.user,
                source=PlanChange.Source.STAFF,
            )


class MembershipAdminForm(MembershipForm):
    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and cleaned.get("role") != Membership.Role.OWNER:
            orphaned = accounts_left_without_owner(changed=[self.instance.pk], owned_after=[])
            if orphaned:
                raise _orphaned_error(orphaned)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """The same rules as the account and user pages' member lists: an account keeps an
    owner, and a member removed loses their API tokens for the account."""

    form = MembershipAdminForm
    list_display = ("user", "account", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "account__name", "account__slug")
    list_select_related = ("user", "account")
    raw_id_fields = ("user", "account")
    readonly_fields = ("created_at",)

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        orphaned = accounts_left_without_owner(changed=[m.pk for m in objs], owned_after=[])
        kept = [NO_OWNER_LEFT.format(names=account.name) for account in orphaned]
        return deleted, model_count, perms_needed, [*protected, *kept]

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        if not change:
            membership_add(membership=obj, by=request.user)
        elif "role" in form.changed_data:
            membership_role_change(membership=obj, role=obj.role, by=request.user)

    def delete_model(self, request, obj: Membership) -> None:
        membership_remove(membership=obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset.select_related("account", "user"):
            membership_remove(membership=membership, by=request.user)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their holder (the raw value is shown to them once and only
    its hash is stored); staff see who holds which token and can revoke it."""

    list_display = ("name", "prefix", "account", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "account__name", "account__slug", "user__email")
    list_select_related = ("account", "user")
    raw_id_fields = ("account", "user")
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            api_token_revoke(token=token, by=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AccountEvent)
class AccountEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Changes to API tokens, the account's name and its members, append-only."""

    list_display = ("created_at", "account", "action", "actor_email", "subject")
    list_filter = ("action",)
    search_fields = ("account__name", "account__slug", "actor_email", "subject")
    list_select_related = ("account",)
    date_hierarchy = "created_at"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Owners' invitations, as the Account page makes them (the link's secret is stored
    hashed); staff look, owners act."""

    list_display = ("created_at", "account", "email", "role", "expires_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("account__name", "account__slug", "email")
    list_select_related = ("account",)
    exclude = ("token_hash",)
