from django.urls import path

from apps.accounts import views

app_name = "account"

urlpatterns = [
    path("account/", views.account_page, name="detail"),
    path("account/name/", views.account_rename_view, name="rename"),
    path("account/audit/", views.audit_trail, name="audit"),
    path("account/tokens/", views.token_create, name="token_create"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("account/members/invite/", views.member_invite, name="invite"),
    path("account/members/<int:member_id>/role/", views.member_role_view, name="member_role"),
    path("account/members/<int:member_id>/remove/", views.member_remove_view, name="member_remove"),
    path(
        "account/invitations/<int:invitation_id>/withdraw/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
]
