from django.urls import path

from apps.user_attributes import views

app_name = "user_attributes"

urlpatterns = [
    path("user-attributes/", views.settings_index, name="index"),
    path("user-attributes/<str:site_key>/", views.settings_page, name="settings"),
    path("user-attributes/<str:site_key>/enable/", views.enable, name="enable"),
    path("user-attributes/<str:site_key>/disable/", views.disable, name="disable"),
    path(
        "user-attributes/<str:site_key>/keys/<str:key>/delete/",
        views.key_delete,
        name="key_delete",
    ),
]
