from django.urls import path

from apps.identity import apis

app_name = "identity"

urlpatterns = [
    path("api/v1/sites/<str:site_key>/identify", apis.IdentifyApi.as_view(), name="identify"),
    path("api/v1/sites/<str:site_key>/sessions", apis.SessionApi.as_view(), name="sessions"),
    path("api/v1/sites/<str:site_key>/lookup", apis.LookupApi.as_view(), name="lookup"),
]
