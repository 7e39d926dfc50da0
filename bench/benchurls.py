"""The production URLs plus B0 and B1 under /bench/ (never mounted in config.urls)."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/b0", views.b0_trivial),
    path("bench/b1/<str:site_key>/identify", views.B1ValidateOnly.as_view()),
    path("", include("config.urls")),
]
