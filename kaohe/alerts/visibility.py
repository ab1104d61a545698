"""Who may see which alerts: the one place the pages, the API and the employee pages ask.

An alert about an employee is seen by whoever may see the employee (HR of the unit, the
manager chain, company-wide roles), except by the employee herself: she sees the alerts of
rules that tell her. People a rule names see its alerts. Alerts about a source (no
employee) are the HR admins' (and, in the API, keys without unit limits).
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from kaohe.alerts.models import Alert, Rule, RuleVersion
from kaohe.org.models import Employee, employees_visible_to_key, is_former_employee, is_hr_admin


def _rules_naming(user) -> list[int]:
    """The rules that name `user` as a recipient (few rules: read in Python, on any DB);
    none for someone who has left."""
    if is_former_employee(user):
        return []
    rules = Rule.objects.only("pk", "recipients")
    return [r.pk for r in rules if user.pk in ((r.recipients or {}).get("users") or [])]


def _told_the_employee() -> Exists:
    """The alert's own rule version told the employee: what she was sent, not what the
    rule says today."""
    return Exists(
        RuleVersion.objects.filter(
            rule=OuterRef("rule"),
            number=OuterRef("rule_version"),
            content__recipients__employee=True,
        )
    )


def alerts_visible_to(user) -> QuerySet:
    """The alerts `user` may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Alert.objects.none()
    if is_hr_admin(user):
        return Alert.objects.all()
    people = Employee.objects.visible_to(user).values("pk")
    condition = Q(employee__in=people)
    me = getattr(user, "employee", None)
    if me is not None:
        condition &= ~Q(employee=me.pk)
        condition |= Q(_told_the_employee(), employee=me.pk)
    named = _rules_naming(user)
    if named:
        condition |= Q(rule__in=named)
    return Alert.objects.filter(condition)


def alerts_visible_to_key(key) -> QuerySet:
    """All alerts for a key without unit limits; else those about its units' employees."""
    if not key.org_units.exists():
        return Alert.objects.all()
    return Alert.objects.filter(employee__in=employees_visible_to_key(key).values("pk"))


def may_see_alerts_page(user) -> bool:
    """Whether the navigation offers the alerts page: anyone who may see some alert."""
    return alerts_visible_to(user).exists()
