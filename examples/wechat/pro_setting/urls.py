"""URL configuration: the wechat API lives under /api/wechat/ (nginx's location)."""

from django.urls import include, path

urlpatterns = [
    path("api/wechat/", include("wechat.urls")),
]
