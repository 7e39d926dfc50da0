from django.urls import path

from apps.sites import views

app_name = "sites"

urlpatterns = [
    path("sites/", views.site_list, name="list"),
    path("sites/new/", views.site_create_view, name="create"),
    path("sites/<str:site_key>/", views.site_detail, name="detail"),
    path("sites/<str:site_key>/status/", views.site_install_status_view, name="status"),
    path("sites/<str:site_key>/delete/", views.site_delete_view, name="delete"),
]
