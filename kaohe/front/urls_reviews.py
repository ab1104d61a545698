"""Pages of the reviews area (namespace `front`, included by kaohe/front/urls.py)."""

from django.urls import path

from kaohe.front.views import reviews

CYCLE = "cycles/<uuid:cycle_id>/"
RESULT = CYCLE + "results/<uuid:result_id>/"

urlpatterns: list = [
    path("cycles/", reviews.cycle_list, name="cycle_list"),
    path("cycles/new/", reviews.cycle_new, name="cycle_new"),
    path(CYCLE, reviews.cycle_detail, name="cycle_detail"),
    path(CYCLE + "standard/", reviews.cycle_publish_standard, name="cycle_publish_standard"),
    path(CYCLE + "scoring/", reviews.cycle_start_scoring, name="cycle_start_scoring"),
    path(CYCLE + "fill/", reviews.cycle_fill, name="cycle_fill"),
    path(CYCLE + "publish/", reviews.cycle_publish, name="cycle_publish"),
    path(CYCLE + "close/", reviews.cycle_close, name="cycle_close"),
    path(CYCLE + "settings/", reviews.cycle_settings, name="cycle_settings"),
    path(RESULT, reviews.result_detail, name="result_detail"),
    path(RESULT + "score/", reviews.result_score, name="result_score"),
    path(RESULT + "adjust/", reviews.result_adjust, name="result_adjust"),
    path(RESULT + "publish/", reviews.result_publish, name="result_publish"),
    path("templates/", reviews.template_list, name="template_list"),
    path("templates/new/", reviews.template_edit, name="template_new"),
    path("templates/<uuid:template_id>/", reviews.template_edit, name="template_edit"),
]
