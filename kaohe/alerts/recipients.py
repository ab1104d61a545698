"""Whom an alert tells: the HR partners of the employee's unit (and the units above it),
the manager chain up to N levels, the employee, and people the rule names. An alert about
a source (no employee) goes to the HR admins and the named people."""

from django.contrib.auth import get_user_model

from kaohe.org.models import Employee, EmploymentStatus, Role, RoleAssignment, is_hr_admin

# An account whose employee record says they have left keeps no role and hears nothing.
CURRENT_USER = {"user__is_active": True}
FORMER = {"user__employee__status": EmploymentStatus.TERMINATED}


def manager_chain(employee: Employee, levels: int) -> list[Employee]:
    """The employee's manager, the manager's manager, ... up to `levels` people still
    employed (one who has left is passed over), without loops."""
    chain: list[Employee] = []
    seen = {employee.pk}
    current = employee
    while len(chain) < levels and current.manager_id and current.manager_id not in seen:
        current = Employee.objects.select_related("user").get(pk=current.manager_id)
        seen.add(current.pk)
        if current.status != EmploymentStatus.TERMINATED:
            chain.append(current)
    return chain


def _current(assignments):
    return assignments.filter(**CURRENT_USER).exclude(**FORMER).select_related("user")


def hr_partners(employee: Employee) -> list:
    """Accounts holding the HR partner role for the employee's unit or a unit above it."""
    path = employee.org_unit.path  # "/1/4/9/": the unit and its ancestors
    ids = [part for part in path.strip("/").split("/") if part]
    assignments = RoleAssignment.objects.filter(role=Role.HR_PARTNER, org_unit_id__in=ids)
    return [a.user for a in _current(assignments)]


def hr_admins() -> list:
    return [a.user for a in _current(RoleAssignment.objects.filter(role=Role.HR_ADMIN))]


def named(user_ids: list[int]) -> list:
    people = get_user_model().objects.filter(pk__in=user_ids or [], is_active=True)
    return list(people.exclude(employee__status=EmploymentStatus.TERMINATED))


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
    """HR admins and the alert's recipients (managers, HR partners, named people) may
    acknowledge or close it; never the employee it is about, even when she is told (closing
    her own warning would silence it), and no one who has left."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if is_hr_admin(user):  # roles in force only: none once they have left
        return True
    employee = alert.employee
    if employee is not None and employee.user_id == user.pk:
        return False
    told = recipients_for(alert.rule, employee, alert.rule.escalate_managers * alert.escalations)
    for person in told:
        account = person.user if isinstance(person, Employee) else person
        if account is not None and account.pk == user.pk:
            return True
    return False
