from django.urls import path

from apps.consent import views

app_name = "consent"

urlpatterns = [
    path("legal/dpa/", views.dpa, name="dpa"),
]
