from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "kaohe.alerts"
    label = "alerts"
    verbose_name = _("Warnings")

    def ready(self) -> None:
        from kaohe.alerts.tasks import reevaluate_task
        from kaohe.metrics.signals import facts_changed

        def on_facts(sender, employee_ids, **kwargs):
            reevaluate_task.enqueue(list(employee_ids))

        facts_changed.connect(on_facts, dispatch_uid="kaohe.alerts.reevaluate", weak=False)
