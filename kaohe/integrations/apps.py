from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """How business systems talk to kaohe: the API's plumbing, later sources and webhooks."""

    name = "kaohe.integrations"
    label = "integrations"
    verbose_name = _("Integrations")
