from django.urls import include, path

from kaohe.api import api
from kaohe.front.views import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("", include("kaohe.front.urls")),
]
