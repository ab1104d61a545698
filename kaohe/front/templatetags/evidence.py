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
}


@register.filter
def kind_label(kind: str) -> str:
    """The readable name of a ledger entry's kind; the code itself when it has none."""
    return str(KIND_LABELS.get(kind, kind))
