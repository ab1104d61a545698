from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    """The append-only Merkle log (RFC 9162) of every legally significant event."""

    name = "kaohe.ledger"
    label = "ledger"
    verbose_name = _("Evidence ledger")
