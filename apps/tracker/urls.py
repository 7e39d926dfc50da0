from django.urls import path

from apps.tracker import views

app_name = "tracker"

urlpatterns = [
    path("t/<str:site_key>.js", views.tracker_script, name="script"),
]
