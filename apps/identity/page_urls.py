from django.urls import path

from apps.identity import views

app_name = "lookup"

urlpatterns = [
    path("lookup/", views.lookup_index, name="index"),
    path("lookup/<str:site_key>/", views.lookup_site, name="site"),
    path("lookup/<str:site_key>/delete/", views.lookup_delete, name="delete"),
]
