from django.apps import AppConfig


class CliConfig(AppConfig):
    """Entry points: management commands that may call any app (no models)."""

    name = "kaohe.cli"
    label = "cli"
