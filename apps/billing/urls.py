from django.urls import path

from apps.billing import views

app_name = "billing"

urlpatterns = [
    path("plan/", views.plan_detail, name="plan"),
    path("plan/change/", views.plan_update, name="change"),
]
