from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "kaohe.front"
    label = "front"
