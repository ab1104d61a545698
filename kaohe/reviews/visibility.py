"""Who may see and change which cycles and results: the one place pages and API ask.

- HR admins and auditors see every cycle and result (auditors read only).
- An HR partner sees the results of the employees in their units and the cycles whose
  population lies in their units (or holds someone of them); they edit and publish those.
- A manager sees the results of their reporting subtree and the cycles holding them, scores
  qualitative items, and publishes when the cycle allows managers to.
- Nobody sees or edits their own result here: the employee meets it as a published document.
"""

from django.db.models import Q, QuerySet

from kaohe.org.models import (
    COMPANY_WIDE_ROLES,
    ApiKey,
    Employee,
    employees_visible_to_key,
    is_former_employee,
    is_hr,
    is_hr_admin,
    reporting_subtree_sql,
    roles_of,
    units_visible_to,
)
from kaohe.reviews.models import Cycle, Result, Template


def _sees_all(user) -> bool:
    return bool(roles_of(user) & set(COMPANY_WIDE_ROLES)) or getattr(user, "is_superuser", False)


def _own(user) -> int | None:
    employee = getattr(user, "employee", None)
    return employee.pk if employee is not None else None


def results_visible_to(user) -> QuerySet:
    """The results `user` may read (never their own)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Result.objects.none()
    if _sees_all(user):
        rows = Result.objects.all()
    else:
        rows = Result.objects.filter(employee__in=Employee.objects.visible_to(user).values("pk"))
    me = _own(user)
    return rows.exclude(employee=me) if me is not None else rows


def results_managed_by(user) -> QuerySet:
    """The results `user` may adjust as HR: their units' (all for an HR admin)."""
    rows = Result.objects.filter(employee__in=Employee.objects.managed_by(user).values("pk"))
    me = _own(user)
    return rows.exclude(employee=me) if me is not None else rows


def results_led_by(user) -> QuerySet:
    """The results of `user`'s reporting subtree: the ones they score as a manager."""
    me = _own(user)
    if me is None or is_former_employee(user):
        return Result.objects.none()
    return Result.objects.filter(employee__in=reporting_subtree_sql(me))


def cycles_visible_to(user) -> QuerySet:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Cycle.objects.none()
    if _sees_all(user):
        return Cycle.objects.all()
    condition = Q(pk__in=results_visible_to(user).values("cycle_id"))
    if is_hr(user):
        units = units_visible_to(user).values("pk")
        condition |= Q(
            pk__in=Cycle.org_units.through.objects.filter(orgunit__in=units).values("cycle_id")
        )
    return Cycle.objects.filter(condition)


def cycles_visible_to_key(key: ApiKey) -> QuerySet:
    if not key.org_units.exists():
        return Cycle.objects.all()
    return Cycle.objects.filter(pk__in=results_visible_to_key(key).values("cycle_id"))


def results_visible_to_key(key: ApiKey) -> QuerySet:
    return Result.objects.filter(employee__in=employees_visible_to_key(key).values("pk"))


def may_manage_cycle(user, cycle: Cycle) -> bool:
    """HR who may run the cycle: an HR admin, or an HR partner whose units hold all of the
    cycle's population units."""
    if not is_hr(user):
        return False
    if is_hr_admin(user):
        return True
    mine = set(units_visible_to(user).values_list("pk", flat=True))
    units = set(cycle.org_units.values_list("pk", flat=True))
    return bool(units) and units <= mine


def may_edit_templates(user) -> bool:
    return is_hr(user)


def templates_visible_to(user) -> QuerySet:
    """Templates are company-wide: HR and auditors read them all."""
    if is_hr(user) or _sees_all(user):
        return Template.objects.all()
    return Template.objects.none()


def may_see_cycles_page(user) -> bool:
    return is_hr(user) or _sees_all(user) or results_led_by(user).exists()
