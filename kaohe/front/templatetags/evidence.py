from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

# What each kind of ledger entry means, for people reading the audit pages.
KIND_LABELS = {
    "org.employee.created": _("Employee record created"),
    "org.employee.updated": _("Employee record changed"),
    "org.employee.moved": _("Transferred"),
    "org.employee.manager_changed": _("Line manager changed"),
    "org.unit.created": _("Org unit created"),
    "org.unit.moved": _("Org unit moved"),
    "org.role.granted": _("Role granted"),
    "org.role.revoked": _("Role revoked"),
    "org.people.imported": _("People imported"),
    "org.demo.loaded": _("Demo data loaded"),
    "account.invitation.sent": _("Invitation sent"),
    "account.password_reset.sent": _("Password reset link sent"),
    "account.password.set_by_link": _("Password set from a link"),
    "account.password.changed": _("Password changed"),
    "api.key.created": _("API key created"),
    "api.key.revoked": _("API key revoked"),
    "company.settings.changed": _("Company settings changed"),
    "company.workday_override.set": _("Working-day exception set"),
    "company.workday_override.removed": _("Working-day exception removed"),
    "metrics.metric.created": _("Metric defined"),
    "metrics.metric.changed": _("Metric definition changed"),
    "metrics.agreement.drafted": _("Target agreement drafted"),
    "metrics.agreement.draft_discarded": _("Target agreement draft discarded"),
    "metrics.agreement.published": _("Target agreement published"),
    "metrics.agreement.bulk_assigned": _("Targets assigned in bulk"),
    "metrics.facts.ingested": _("Business data received"),
    "metrics.facts.file_imported": _("Business data imported from a file"),
    "integrations.source.created": _("Data source created"),
    "integrations.source.changed": _("Data source changed"),
    "integrations.source.mapping_changed": _("Data source field mapping changed"),
    "integrations.source.secret_rotated": _("Webhook secret replaced"),
    "integrations.pull.configured": _("Pull connector configured"),
    "integrations.pull.cursor_reset": _("Pull connector restarted from the first page"),
    "notify.robot.created": _("Group robot added"),
    "notify.robot.changed": _("Group robot changed"),
    "notify.endpoint.created": _("Webhook endpoint added"),
    "notify.endpoint.changed": _("Webhook endpoint changed"),
    "alerts.rule.saved": _("Warning rule saved"),
    "alerts.alert.raised": _("Warning raised"),
    "alerts.alert.notified": _("Warning sent to its recipients"),
    "alerts.alert.acknowledged": _("Warning acknowledged"),
    "alerts.alert.escalated": _("Warning escalated"),
    "alerts.alert.resolved": _("Warning resolved"),
}


@register.filter
def kind_label(kind: str) -> str:
    """The readable name of a ledger entry's kind; the code itself when it has none."""
    return str(KIND_LABELS.get(kind, kind))
