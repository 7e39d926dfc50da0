from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView

from apps.accounts import views as account_views
from apps.accounts.forms import AdminLoginForm
from apps.common.observability import health
from apps.common.schema import SchemaView

# Staff log in with attempts counted, like customers (apps.accounts.forms).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    # The public API first: the tracking script's calls are most of the traffic, and
    # Django tries the patterns in order.
    path("", include("apps.identity.urls")),
    path("", account_views.home, name="home"),
    path("", include("apps.accounts.urls")),
    path("a/<slug:account_slug>/", include("apps.accounts.account_urls")),
    path("a/<slug:account_slug>/", include("apps.billing.urls")),
    path("a/<slug:account_slug>/", include("apps.sites.urls")),
    path("a/<slug:account_slug>/", include("apps.user_attributes.urls")),
    path("a/<slug:account_slug>/", include("apps.identity.page_urls")),
    path("a/<slug:account_slug>/", include("apps.feedback_targeting.urls")),
    path("", include("apps.tracker.urls")),
    path("", include("apps.consent.urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-docs",
    ),
    # Staff change their password where a wrong old password counts as a wrong log-in:
    # the admin's own page would let a session left open guess it without end.
    path(
        "admin/password_change/",
        RedirectView.as_view(pattern_name="accounts:password_change"),
        name="admin-password-change",
    ),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
]

handler400 = "apps.common.api.json_or_bad_request"
handler404 = "apps.common.api.json_or_page_not_found"
handler500 = "apps.common.api.json_or_server_error"
