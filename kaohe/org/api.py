"""The people API (/api/v1/employees, /api/v1/org-units) and how API callers sign in.

A caller is an API key (`Authorization: Bearer kh_...`, its scopes and org units decide)
or a signed-in browser session (the user's roles decide, as on the pages).
"""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.db.models import Q
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema
from ninja.responses import Status
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from kaohe.lib.http import client_ip
from kaohe.lib.problem import Problem, ProblemError
from kaohe.org.actions import do_upsert_employee, find_api_key, note_api_key_use
from kaohe.org.models import (
    ApiKey,
    Employee,
    EmploymentStatus,
    OrgUnit,
    employees_visible_to_key,
    is_hr,
    units_visible_to,
)
from kaohe.org.validators import (
    CONTROL,
    EMPLOYEE_NO_PATTERN,
    ORG_CODE_PATTERN,
    RESERVED_EMPLOYEE_NOS,
    SPACE,
    employee_no_problem,
)

# --- who is calling ---------------------------------------------------------------------

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kaohe"'}


@dataclass
class Caller:
    key: ApiKey | None = None
    user: object = None

    def employees(self):
        """The employees this caller may read."""
        if self.key is not None:
            return employees_visible_to_key(self.key)
        return Employee.objects.visible_to(self.user)

    def org_units(self):
        if self.key is not None:
            condition = Q()
            for unit in self.key.org_units.all():
                condition |= unit.descendants_q()
            return OrgUnit.objects.filter(condition)
        # Besides their HR scope, people see the units of everyone they may see.
        return OrgUnit.objects.filter(
            Q(pk__in=units_visible_to(self.user).values("pk"))
            | Q(pk__in=self.employees().values("org_unit_id"))
        )


def _lacks_scope(scope: str) -> ProblemError:
    return ProblemError(403, _("This API key lacks the %(scope)s scope.") % {"scope": scope})


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer kh_<prefix>_<secret>`; a wrong or revoked key is a 401."""

    openapi_bearerFormat = "kh_<prefix>_<secret>"
    openapi_description = "An API key, created by an HR admin; its scopes and org units apply."

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def __call__(self, request):
        scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request, token: str) -> Caller:
        key = find_api_key(token)
        if key is None:
            detail = _("This API key is unknown or has been revoked.")
            raise ProblemError(401, detail, headers=CHALLENGE)
        note_api_key_use(key, client_ip(request))
        if self.scope and self.scope not in key.scopes:
            raise _lacks_scope(self.scope)
        return Caller(key=key)


class SessionAuth(APIKeyCookie):
    """A signed-in browser session. Unsafe methods need the CSRF token (X-CSRFToken)."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = "A signed-in kaohe session; POST also needs the X-CSRFToken header."

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__(csrf=True)

    def _get_key(self, request) -> str | None:
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            detail = _("The CSRF check failed: send the X-CSRFToken header with the session.")
            raise ProblemError(403, detail, slug="csrf")
        return request.COOKIES.get(self.param_name, "")

    def authenticate(self, request, key: str | None) -> Caller | None:
        if key is None:
            return None
        if self.scope and self.scope.endswith(":write") and not is_hr(request.user):
            raise ProblemError(403, _("Only HR may change employees."))
        return Caller(user=request.user)


def auth_for(scope: str | None = None) -> list:
    """An API key with `scope`, or a session whose user's roles allow it."""
    return [ApiKeyAuth(scope), SessionAuth(scope)]


# --- what goes in and out ---------------------------------------------------------------

# Employee numbers and unit codes follow kaohe/org/validators.py, as the import does.
_PRINTABLE = f"^[^{CONTROL}]*$"
_NOT_BLANK = f"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"
_EMAIL = r"^$|^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
_MOBILE = r"^[0-9+() -]*$"
_DATE = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
# A cursor is hex of the last employee number seen; "00" is left out so none holds a NUL.
_CURSOR = r"^([1-9a-f][0-9a-f]|0[1-9a-f])+$"


def _valid_unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(_("Send valid Unicode text.")) from None
    return value


def _text(max_length: int, pattern: str = _PRINTABLE, min_length: int = 0):
    constraints = StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)
    return Annotated[str, constraints, AfterValidator(_valid_unicode)]


def _not_reserved(value: str) -> str:
    problem = employee_no_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _any_case(word: str) -> str:
    """A pattern matching `word` in any case, for engines without a case-insensitive flag."""
    return "".join(
        f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else re.escape(c) for c in word
    )


# The words the people pages use as paths, in any case: documented as what a number is not.
_RESERVED = "^(" + "|".join(_any_case(word) for word in sorted(RESERVED_EMPLOYEE_NOS)) + ")$"


def _iso_date(value: object) -> dt.date:
    """Only "YYYY-MM-DD" strings: no timestamps, no datetimes."""
    if not isinstance(value, str) or not re.fullmatch(_DATE, value):
        raise ValueError(_("Send a date as YYYY-MM-DD, between 1900 and 2099."))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(_("There is no such day.")) from None


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _DATE}),
]
EmployeeNo = Annotated[
    _text(32, EMPLOYEE_NO_PATTERN),
    AfterValidator(_not_reserved),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 32,
            "pattern": EMPLOYEE_NO_PATTERN,
            "not": {"pattern": _RESERVED},
        }
    ),
]
UnitCode = _text(50, ORG_CODE_PATTERN)
StatusName = Literal[tuple(EmploymentStatus.values)]  # type: ignore[valid-type]


def optional_query(kind, **json_schema):
    """An optional query parameter: absent, or a string (never null: the wire has none)."""
    return Annotated[kind | None, WithJsonSchema({"type": "string", **json_schema})]


def pattern_text(max_length: int, pattern: str):
    """A string of at most `max_length` characters matching `pattern`."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=pattern)]


# An employee number to filter a list by.
EmployeeFilter = optional_query(
    pattern_text(32, EMPLOYEE_NO_PATTERN), maxLength=32, pattern=EMPLOYEE_NO_PATTERN
)
# Newest first: "<microseconds since 1970>-<id>" of the last item of a page, ordered by a
# time and then the id, descending. Bounded so that neither number can overflow.
TIME_CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9]{1,18}$"
TimeCursor = optional_query(
    pattern_text(40, TIME_CURSOR_PATTERN), maxLength=40, pattern=TIME_CURSOR_PATTERN
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def newest_first_page(rows, field: str, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """One page of `rows`, newest `field` first, after `cursor`; and the next page's cursor
    (None on the last page)."""
    if cursor:
        micros, pk = (int(part) for part in cursor.split("-"))
        at = _EPOCH + dt.timedelta(microseconds=micros)
        rows = rows.filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "pk__lt": pk}))
    page = list(rows.order_by(f"-{field}", "-pk")[: limit + 1])
    if len(page) <= limit:
        return page, None
    last = page[limit - 1]
    since = getattr(last, field) - _EPOCH
    return page[:limit], f"{since // dt.timedelta(microseconds=1)}-{last.pk}"


class EmployeeFilters(Schema):
    q: optional_query(_text(100), maxLength=100, pattern=_PRINTABLE) = Field(  # type: ignore[valid-type]
        None, description="Part of the name or the employee number."
    )
    org_unit: optional_query(UnitCode, maxLength=50, pattern=ORG_CODE_PATTERN) = Field(  # type: ignore[valid-type]
        None, description="A unit code; the units below it are included."
    )
    status: optional_query(StatusName, enum=EmploymentStatus.values) = None  # type: ignore[valid-type]
    cursor: optional_query(_text(256, _CURSOR), maxLength=256, pattern=_CURSOR) = Field(  # type: ignore[valid-type]
        None, description="The `next_cursor` of the previous page."
    )
    limit: int = Field(100, ge=1, le=500, description="At most this many employees.")

    def apply(self, rows):
        if self.q:
            rows = rows.filter(Q(name__icontains=self.q) | Q(employee_no__icontains=self.q))
        if self.org_unit:
            unit = OrgUnit.objects.filter(code=self.org_unit).first()
            rows = rows.filter(unit.descendants_q("org_unit__")) if unit else rows.none()
        if self.status:
            rows = rows.filter(status=self.status)
        if self.cursor:
            after = bytes.fromhex(self.cursor).decode("utf-8", "replace")
            rows = rows.filter(employee_no__gt=after)
        return rows


class EmployeeIn(Schema):
    """One employee, created or updated by `employee_no`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "employee_no": "E0042",
                    "name": "王芳",
                    "org_unit": "EAST-S",
                    "hire_date": "2024-03-01",
                    "manager": "E0002",
                    "position": "销售代表",
                    "gender": "female",
                    "birth_date": "1995-07-12",
                    "email": "wang.fang@example.com",
                    "mobile": "+86 138 0013 8000",
                    "status": "active",
                }
            ]
        },
    )

    employee_no: EmployeeNo
    name: _text(100, _NOT_BLANK)  # type: ignore[valid-type]
    org_unit: UnitCode = Field(description="The code of the org unit.")
    hire_date: IsoDate
    manager: EmployeeNo | None = Field(None, description="The manager's employee number.")
    position: _text(100) = ""  # type: ignore[valid-type]
    gender: Literal["male", "female", None] = None
    birth_date: IsoDate | None = None
    email: _text(254, _EMAIL) = ""  # type: ignore[valid-type]
    mobile: _text(20, _MOBILE) = ""  # type: ignore[valid-type]
    status: StatusName = "active"


class EmployeeOut(Schema):
    employee_no: str
    name: str
    org_unit: str = Field(description="The code of the org unit.")
    manager: str | None = Field(description="The manager's employee number.")
    position: str
    gender: Literal["male", "female"] | None
    birth_date: dt.date | None
    hire_date: dt.date
    email: str
    mobile: str
    status: StatusName


class EmployeePage(Schema):
    items: list[EmployeeOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


class OrgUnitOut(Schema):
    code: str
    name: str
    parent: str | None = Field(description="The code of the parent unit; null for a root.")
    depth: int = Field(description="0 for a root unit, 1 below it, and so on.")


class OrgUnitList(Schema):
    items: list[OrgUnitOut]


def employee_out(employee: Employee) -> dict:
    return {
        "employee_no": employee.employee_no,
        "name": employee.name,
        "org_unit": employee.org_unit.code,
        "manager": employee.manager.employee_no if employee.manager_id else None,
        "position": employee.position,
        "gender": employee.gender or None,
        "birth_date": employee.birth_date,
        "hire_date": employee.hire_date,
        "email": employee.email,
        "mobile": employee.mobile,
        "status": employee.status,
    }


# --- endpoints --------------------------------------------------------------------------

router = Router(tags=["people"])
DENIED = {401: Problem, 403: Problem}


@router.get(
    "/employees",
    auth=auth_for("employees:read"),
    response={200: EmployeePage, **DENIED, 422: Problem},
    summary="List employees",
)
def list_employees(request, filters: Query[EmployeeFilters]):
    """The employees within the caller's reach, by employee number, a page at a time.

    Scope: `employees:read`.
    """
    rows = request.auth.employees().select_related("org_unit", "manager")
    rows = filters.apply(rows).order_by("employee_no")
    # Keyset paging: one row more than asked tells whether another page follows.
    page = list(rows[: filters.limit + 1])
    more = len(page) > filters.limit
    page = page[: filters.limit]
    next_cursor = page[-1].employee_no.encode().hex() if more else None
    return {"items": [employee_out(e) for e in page], "next_cursor": next_cursor}


@router.get(
    "/employees/{employee_no}",
    auth=auth_for("employees:read"),
    response={200: EmployeeOut, **DENIED, 404: Problem, 422: Problem},
    summary="Get one employee",
)
def get_employee(
    request,
    employee_no: str = Path(..., max_length=32, pattern=EMPLOYEE_NO_PATTERN, example="E0042"),
):
    """One employee within the caller's reach; anyone else is a 404. Scope: `employees:read`."""
    employee = (
        request.auth.employees()
        .select_related("org_unit", "manager")
        .filter(employee_no=employee_no)
        .first()
    )
    if employee is None:
        detail = _("There is no employee %(number)s within your reach.")
        raise ProblemError(404, detail % {"number": employee_no})
    return employee_out(employee)


@router.post(
    "/employees",
    auth=auth_for("employees:write"),
    response={
        200: EmployeeOut,
        201: EmployeeOut,
        400: Problem,
        **DENIED,
        409: Problem,
        422: Problem,
    },
    summary="Create or update an employee",
)
def upsert_employee(request, employee: EmployeeIn):
    """Creates the employee (201) or updates the one with this `employee_no` (200).

    On update, fields left out keep their value. A change of org unit, manager or position
    is recorded in the employee's history from today. The org unit must be within the
    caller's reach, the manager must exist and not report to the employee.
    Scope: `employees:write`.
    """
    caller: Caller = request.auth
    data = employee.model_dump(exclude_unset=True)
    try:
        saved, created = do_upsert_employee(caller.user, data, via_key=caller.key)
    except PermissionDenied:
        # The caller's scope and role were checked by auth_for, so what is left is an
        # existing employee outside the caller's reach. GET answers 404 for them; here the
        # answer cannot hide that the number is taken, but it says no more than that.
        detail = _("Employee number %(no)s is not available to you.")
        raise ProblemError(403, detail % {"no": employee.employee_no}) from None
    except IntegrityError:
        detail = _("Another request changed this employee at the same moment; try again.")
        raise ProblemError(409, detail) from None
    return Status(201 if created else 200, employee_out(saved))


@router.get(
    "/org-units",
    auth=auth_for("employees:read"),
    response={200: OrgUnitList, **DENIED},
    summary="List org units",
)
def list_org_units(request):
    """The org units within the caller's reach, parents before children.

    Scope: `employees:read`.
    """
    units = request.auth.org_units().select_related("parent").order_by("path")
    return {
        "items": [
            {
                "code": unit.code,
                "name": unit.name,
                "parent": unit.parent.code if unit.parent_id else None,
                "depth": unit.depth,
            }
            for unit in units
        ]
    }
