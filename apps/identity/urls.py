from django.urls import path

from apps.feedback_targeting import apis as widget_apis
from apps.identity import apis

app_name = "identity"

urlpatterns = [
    path("api/v1/sites/<str:site_key>/identify", apis.IdentifyApi.as_view(), name="identify"),
    path("api/v1/sites/<str:site_key>/sessions", apis.SessionApi.as_view(), name="sessions"),
    path("api/v1/sites/<str:site_key>/lookup", apis.LookupApi.as_view(), name="lookup"),
    path("api/v1/sites/<str:site_key>/widgets", widget_apis.WidgetsApi.as_view(), name="widgets"),
    path(
        "api/v1/sites/<str:site_key>/widgets/<int:widget_id>/responses",
        widget_apis.ResponseApi.as_view(),
        name="widget-responses",
    ),
]
