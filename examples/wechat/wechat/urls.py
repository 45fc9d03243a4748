from django.urls import re_path

from . import views

urlpatterns = [
    # With or without the trailing slash, so that no redirect is needed.
    re_path(r"^ping/?$", views.ping, name="ping"),
]
