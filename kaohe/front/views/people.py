"""The HR console's people pages and the employee's own profile."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from kaohe.org.actions import may_send_password_link
from kaohe.org.models import (
    COMPANY_WIDE_ROLES,
    Employee,
    EmploymentStatus,
    OrgUnit,
    Placement,
    Role,
    roles_of,
    units_visible_to,
)
from kaohe.signing.visibility import documents_visible_to

PAGE_SIZE = 50


@login_required
def home(request):
    """Sends each user to the page that fits their role."""
    roles = roles_of(request.user)
    employee = getattr(request.user, "employee", None)
    if roles or (employee is not None and employee.reports.exists()):
        return redirect("front:employee_list")
    return redirect("front:my_profile")


@login_required
def my_profile(request):
    employee = (
        Employee.objects.select_related("org_unit", "manager").filter(user=request.user).first()
    )
    context = {"employee": employee, "roles": _role_labels(request.user)}
    return render(request, "front/my_profile.html", context)


def _role_labels(user) -> list[str]:
    labels = [
        f"{a.get_role_display()} · {a.org_unit.name}" if a.org_unit else a.get_role_display()
        for a in user.role_assignments.select_related("org_unit")
    ]
    employee = getattr(user, "employee", None)
    if employee is not None and employee.reports.exists():
        labels.append(_("line manager"))
    return labels


def _require_people_access(user) -> None:
    employee = getattr(user, "employee", None)
    if not roles_of(user) and not (employee is not None and employee.reports.exists()):
        raise PermissionDenied


def filtered_employees(user, params):
    """The employees `user` may see, narrowed by the list page's search and filters."""
    people = Employee.objects.visible_to(user).select_related("org_unit", "manager")
    query = (params.get("q") or "").strip()
    if query:
        people = people.filter(
            Q(name__icontains=query)
            | Q(employee_no__icontains=query)
            | Q(position__icontains=query)
        )
    unit_code = params.get("unit") or ""
    if unit_code:
        unit = OrgUnit.objects.filter(code=unit_code).first()
        people = people.filter(org_unit__path__startswith=unit.path) if unit else people.none()
    status = params.get("status") or ""
    if status in EmploymentStatus.values:
        people = people.filter(status=status)
    return people.order_by("employee_no")


@login_required
def employee_list(request):
    _require_people_access(request.user)
    people = filtered_employees(request.user, request.GET)
    page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "units": _filter_units(request.user),
        "statuses": EmploymentStatus.choices,
        "params": request.GET,
        "querystring": _querystring_without_page(request.GET),
    }
    template = "front/_employee_rows.html" if request.htmx else "front/employee_list.html"
    return render(request, template, context)


def _filter_units(user):
    units = units_visible_to(user)
    if units.exists():
        return units
    return OrgUnit.objects.filter(pk__in=Employee.objects.visible_to(user).values("org_unit"))


def _querystring_without_page(params) -> str:
    copy = params.copy()
    copy.pop("page", None)
    return copy.urlencode()


DOCUMENTS_SHOWN = 50


@login_required
def employee_detail(request, employee_no: str):
    visible = Employee.objects.visible_to(request.user).select_related("org_unit", "manager")
    employee = get_object_or_404(visible, employee_no=employee_no)
    history = Placement.objects.filter(employee=employee).select_related("org_unit", "manager")
    context = {
        "employee": employee,
        "chain": _manager_chain(employee),
        # Reports outside the viewer's reach (e.g. in another HR partner's unit) stay hidden.
        "reports": visible.filter(manager=employee).order_by("employee_no"),
        "history": history.order_by("-valid_from"),
        "can_send_link": may_send_password_link(request.user, employee),
        "has_password": employee.user_id is not None and employee.user.has_usable_password(),
        # The employee's archive: what was put before them and what became of it.
        "documents": documents_visible_to(request.user)
        .filter(employee=employee)
        .select_related("letter")
        .defer("data", "data_json", "pdf", "letter__pdf")  # a list needs none of the files
        .order_by("-issued_at", "-pk")[:DOCUMENTS_SHOWN],
    }
    return render(request, "front/employee_detail.html", context)


def _manager_chain(employee: Employee, limit: int = 10) -> list[Employee]:
    chain, current, seen = [], employee.manager, {employee.pk}
    while current is not None and current.pk not in seen and len(chain) < limit:
        chain.append(current)
        seen.add(current.pk)
        current = current.manager
    return chain


@login_required
def org_tree(request):
    roles = roles_of(request.user)
    if not roles & {Role.HR_ADMIN, Role.HR_PARTNER, *COMPANY_WIDE_ROLES}:
        raise PermissionDenied
    units = units_visible_to(request.user).annotate(headcount=Count("employees"))
    return render(request, "front/org_tree.html", {"units": _as_tree(list(units))})


def _as_tree(units: list[OrgUnit]) -> list[OrgUnit]:
    """Units in path order with `level` set relative to the shallowest visible unit."""
    if not units:
        return []
    top = min(unit.depth for unit in units)
    for unit in units:
        unit.level = unit.depth - top
    return sorted(units, key=lambda unit: unit.path)
