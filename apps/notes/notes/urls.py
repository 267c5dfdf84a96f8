from django.contrib.auth import views as auth_views
from django.urls import path

from notes import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notes/", views.note_list, name="note_list"),
    path("notes/<int:pk>/", views.note_detail, name="note_detail"),
    path("notes/<int:pk>.json", views.note_json, name="note_json"),
]
