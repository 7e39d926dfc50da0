from django.urls import path

from apps.feedback_targeting import views

app_name = "widgets"

urlpatterns = [
    path("widgets/", views.widgets_index, name="index"),
    path("widgets/<str:site_key>/", views.widget_list, name="list"),
    path("widgets/<str:site_key>/new/", views.widget_create, name="create"),
    # htmx pieces of the builder: a condition row, a question block, a removed block's
    # (empty) place, and the live previews of the form as it stands
    path(
        "widgets/<str:site_key>/builder/condition/",
        views.builder_condition,
        name="builder_condition",
    ),
    path(
        "widgets/<str:site_key>/builder/question/", views.builder_question, name="builder_question"
    ),
    path("widgets/<str:site_key>/builder/removed/", views.builder_removed, name="builder_removed"),
    path("widgets/<str:site_key>/builder/preview/", views.builder_preview, name="builder_preview"),
    path("widgets/<str:site_key>/<int:widget_id>/", views.widget_edit, name="edit"),
    path(
        "widgets/<str:site_key>/<int:widget_id>/activate/",
        views.widget_activate_view,
        name="activate",
    ),
    path("widgets/<str:site_key>/<int:widget_id>/pause/", views.widget_pause_view, name="pause"),
    path("widgets/<str:site_key>/<int:widget_id>/delete/", views.widget_delete_view, name="delete"),
    path(
        "widgets/<str:site_key>/<int:widget_id>/results/",
        views.widget_results_view,
        name="results",
    ),
    path(
        "widgets/<str:site_key>/<int:widget_id>/results.csv",
        views.widget_results_csv,
        name="results_csv",
    ),
]
