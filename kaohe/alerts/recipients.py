"""Whom an alert tells: the HR partners of the employee's unit (and the units above it),
the manager chain up to N levels, the employee, and people the rule names. An alert about
a source (no employee) goes to the HR admins and the named people."""

from django.contrib.auth import get_user_model

from kaohe.org.models import Employee, Role, RoleAssignment


def manager_chain(employee: Employee, levels: int) -> list[Employee]:
    """The employee's manager, the manager's manager, ... up to `levels`, without loops."""
    chain: list[Employee] = []
    seen = {employee.pk}
    current = employee
    while len(chain) < levels and current.manager_id and current.manager_id not in seen:
        current = Employee.objects.select_related("user").get(pk=current.manager_id)
        seen.add(current.pk)
        chain.append(current)
    return chain


def hr_partners(employee: Employee) -> list:
    """Accounts holding the HR partner role for the employee's unit or a unit above it."""
    path = employee.org_unit.path
    assignments = RoleAssignment.objects.filter(role=Role.HR_PARTNER).select_related(
        "user", "org_unit"
    )
    return [a.user for a in assignments if a.org_unit and path.startswith(a.org_unit.path)]


def hr_admins() -> list:
    assignments = RoleAssignment.objects.filter(role=Role.HR_ADMIN).select_related("user")
    return [a.user for a in assignments]


def named(user_ids: list[int]) -> list:
    return list(get_user_model().objects.filter(pk__in=user_ids or [], is_active=True))


def recipients_for(rule, employee: Employee | None, extra_managers: int = 0) -> list:
    """The people (accounts or employees) the rule's alert about `employee` goes to."""
    wanted = rule.recipients or {}
    people: list = []
    if employee is None:
        people += hr_admins()
    else:
        if wanted.get("hr", True):
            people += hr_partners(employee)
        levels = int(wanted.get("managers", 1) or 0) + extra_managers
        people += manager_chain(employee, levels)
        if wanted.get("employee"):
            people.append(employee)
    people += named(wanted.get("users", []))
    return people


def may_acknowledge(user, alert) -> bool:
    """A recipient of the alert (manager, HR partner, named person, the employee when told)
    or an HR admin may acknowledge it."""
    if not getattr(user, "is_authenticated", False):
        return False
    if RoleAssignment.objects.filter(user=user, role=Role.HR_ADMIN).exists():
        return True
    employee = alert.employee
    told = recipients_for(alert.rule, employee, alert.rule.escalate_managers * alert.escalations)
    for person in told:
        account = person if not isinstance(person, Employee) else person.user
        if account is not None and account.pk == user.pk:
            return True
    return False
