from django.apps import AppConfig


class CliConfig(AppConfig):
    """Entry points: management commands that may call any app; the scheduler's lease is
    its only model."""

    name = "kaohe.cli"
    label = "cli"
