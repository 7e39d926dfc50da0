from django.urls import path

from apps.accounts import views

app_name = "account"

urlpatterns = [
    path("account/", views.account_page, name="detail"),
    path("account/name/", views.account_rename_view, name="rename"),
    path("account/audit/", views.audit_trail, name="audit"),
    path("account/tokens/", views.token_create, name="token_create"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
