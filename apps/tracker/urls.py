from django.urls import path

from apps.tracker import views

app_name = "tracker"

urlpatterns = [
    path("t/<str:site_key>.js", views.tracker_script, name="script"),
    path("demo/<str:site_key>/", views.demo_page, name="demo"),
]
