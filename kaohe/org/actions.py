"""Every change of significance to the organisation goes through a function here.

Each checks the actor's permission and the current state, then writes in one transaction.
(The evidence ledger will record these events once it exists.)
"""

import datetime as dt
import hashlib
import ipaddress
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.org.evidence import record
from kaohe.org.models import (
    ApiKey,
    Company,
    Employee,
    EmploymentStatus,
    Gender,
    Invitation,
    OrgUnit,
    Placement,
    Role,
    RoleAssignment,
    WorkdayOverride,
    employees_visible_to_key,
    is_former_employee,
    is_hr,
    is_hr_admin,
    reporting_subtree_sql,
)

API_SCOPES = (
    "employees:read",
    "employees:write",
    "targets:write",
    "facts:write",
    "alerts:read",
    "documents:read",
    "reviews:read",
)


class ActionError(Exception):
    """A request the current state does not allow; the message is for the user."""


class FieldErrors(ActionError):
    """Some fields of one request are wrong; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def company_today() -> dt.date:
    return clock.today(Company.get().timezone)


def _require_hr_over(actor, employee: Employee) -> None:
    if not Employee.objects.managed_by(actor).filter(pk=employee.pk).exists():
        raise PermissionDenied(_("You may not change this employee."))


def _require_hr_admin(actor) -> None:
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may do this."))


def unit_path(parent: OrgUnit | None, unit_id: int) -> str:
    return f"{parent.path if parent else '/'}{unit_id}/"


@transaction.atomic
def do_create_org_unit(actor, code: str, name: str, parent: OrgUnit | None) -> OrgUnit:
    _require_hr_admin(actor)
    if OrgUnit.objects.filter(code=code).exists():
        raise ActionError(_("Org unit code %(code)s is already in use.") % {"code": code})
    unit = OrgUnit.objects.create(code=code, name=name, parent=parent, path="")
    unit.path = unit_path(parent, unit.pk)
    unit.save(update_fields=["path"])
    payload = {"code": code, "name": name, "parent": parent.code if parent else None}
    record("org.unit.created", actor, payload, org_unit=code)
    return unit


@transaction.atomic
def do_move_org_unit(actor, unit: OrgUnit, parent: OrgUnit | None) -> OrgUnit:
    """Re-parents `unit`, rewriting the paths of its whole subtree."""
    _require_hr_admin(actor)
    if parent is not None and parent.path.startswith(unit.path):
        raise ActionError(_("An org unit cannot be moved below itself."))
    old_path, new_path = unit.path, unit_path(parent, unit.pk)
    subtree = list(OrgUnit.objects.filter(path__startswith=old_path))
    for node in subtree:
        node.path = new_path + node.path[len(old_path) :]
    OrgUnit.objects.bulk_update(subtree, ["path"])
    unit.parent = parent
    unit.save(update_fields=["parent"])
    unit.path = new_path
    record("org.unit.moved", actor, {"parent": parent.code if parent else None}, org_unit=unit.code)
    return unit


def placement_on(employee: Employee, day: dt.date) -> Placement | None:
    """Where `employee` stood on `day`: unit, manager, position."""
    return (
        employee.placements.filter(valid_from__lte=day)
        .exclude(valid_to__lte=day)
        .select_related("org_unit", "manager")
        .first()
    )


def open_placement(employee: Employee, actor, effective: dt.date, reason: str) -> Placement:
    return Placement.objects.create(
        employee=employee,
        org_unit_id=employee.org_unit_id,
        manager_id=employee.manager_id,
        position=employee.position,
        valid_from=effective,
        recorded_by=actor if getattr(actor, "pk", None) else None,
        recorded_at=clock.now(),
        reason=reason,
    )


def _check_effective(employee: Employee, effective: dt.date) -> Placement | None:
    if effective > company_today():
        raise ActionError(_("The effective date cannot be in the future."))
    current = employee.placements.filter(valid_to__isnull=True).first()
    if current and effective <= current.valid_from:
        raise ActionError(
            _("The effective date must be after %(date)s, when the current placement began.")
            % {"date": current.valid_from.isoformat()}
        )
    return current


def _replace_placement(employee, actor, effective, reason, fields) -> Employee:
    current = _check_effective(employee, effective)
    if current:
        current.valid_to = effective
        current.save(update_fields=["valid_to"])
    employee.save(update_fields=fields)
    open_placement(employee, actor, effective, reason)
    return employee


def check_manager(employee: Employee, manager: Employee | None) -> None:
    """Refuses a manager that would make the reporting chain a cycle."""
    if manager is None:
        return
    if manager.pk == employee.pk:
        raise ActionError(_("An employee cannot be their own manager."))
    if (
        employee.pk
        and Employee.objects.filter(
            pk=manager.pk, id__in=reporting_subtree_sql(employee.pk)
        ).exists()
    ):
        raise ActionError(
            _("%(manager)s reports to %(employee)s; the manager chain would form a cycle.")
            % {"manager": manager, "employee": employee}
        )


@transaction.atomic
def do_move_employee(
    actor,
    employee: Employee,
    org_unit: OrgUnit,
    effective: dt.date,
    position: str | None = None,
    reason: str = "",
) -> Employee:
    _require_hr_over(actor, employee)
    if not (is_hr_admin(actor) or _unit_in_scope(actor, org_unit)):
        raise PermissionDenied(_("You may not move people into that org unit."))
    employee.org_unit = org_unit
    if position is not None:
        employee.position = position
    _replace_placement(employee, actor, effective, reason, ["org_unit", "position"])
    payload = {"org_unit": org_unit.code, "position": employee.position,
               "effective": effective.isoformat(), "reason": reason}  # fmt: skip
    record("org.employee.moved", actor, payload, employee)
    return employee


def _unit_in_scope(actor, unit: OrgUnit) -> bool:
    if is_former_employee(actor):
        return False
    return actor.role_assignments.filter(
        role=Role.HR_PARTNER, org_unit__path__in=_ancestor_paths(unit.path)
    ).exists()


def _ancestor_paths(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


@transaction.atomic
def do_change_manager(
    actor, employee: Employee, manager: Employee | None, effective: dt.date, reason: str = ""
) -> Employee:
    _require_hr_over(actor, employee)
    check_manager(employee, manager)
    employee.manager = manager
    _replace_placement(employee, actor, effective, reason, ["manager"])
    payload = {"manager": manager.employee_no if manager else None,
               "effective": effective.isoformat(), "reason": reason}  # fmt: skip
    record("org.employee.manager_changed", actor, payload, employee)
    return employee


@transaction.atomic
def do_assign_role(
    actor, user, role: str, org_unit: OrgUnit | None = None, *, system: bool = False
) -> RoleAssignment:
    """Grants `role` (an HR partner's over `org_unit` and below). `system` is for the CLI."""
    if not system:
        _require_hr_admin(actor)
    if role not in Role.values:
        raise ActionError(_("Unknown role %(role)s.") % {"role": role})
    if role == Role.HR_PARTNER and org_unit is None:
        raise ActionError(_("An HR partner needs an org unit."))
    if role != Role.HR_PARTNER:
        org_unit = None
    assignment, created = RoleAssignment.objects.get_or_create(
        user=user,
        role=role,
        org_unit=org_unit,
        defaults={"granted_by": actor, "granted_at": clock.now()},
    )
    if created:
        _record_role("org.role.granted", actor, assignment)
    return assignment


def _record_role(kind: str, actor, assignment: RoleAssignment) -> None:
    payload = {
        "user": assignment.user.get_username(),
        "role": assignment.role,
        "org_unit": assignment.org_unit.code if assignment.org_unit else None,
    }
    employee = getattr(assignment.user, "employee", None)
    record(kind, actor, payload, employee, user=str(assignment.user.pk))


@transaction.atomic
def do_revoke_role(actor, assignment: RoleAssignment, *, system: bool = False) -> None:
    """Removes a role; the last HR admin cannot be removed, or nobody could manage kaohe."""
    if not system:
        _require_hr_admin(actor)
    if assignment.role == Role.HR_ADMIN:
        admins = RoleAssignment.objects.select_for_update().filter(
            role=Role.HR_ADMIN, user__is_active=True
        )
        if admins.exclude(pk=assignment.pk).count() == 0:
            raise ActionError(_("This is the last HR admin; grant the role to someone else first."))
    assignment.revoked_at = clock.now()
    assignment.revoked_by = actor if getattr(actor, "pk", None) else None
    assignment.save(update_fields=["revoked_at", "revoked_by"])
    _record_role("org.role.revoked", actor, assignment)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def do_invite(actor, employee: Employee) -> tuple[Invitation, str]:
    """Sends `employee` a one-time link to set a password. Returns the link's token.

    HR may invite someone who has no password yet. Replacing an existing password is an
    HR admin's decision, and never for an account that holds a role: otherwise whoever
    controls the email address on file could take over the account.
    """
    _require_hr_over(actor, employee)
    _check_may_reset(actor, employee.user)
    if not employee.email:
        raise ActionError(_("%(employee)s has no email address.") % {"employee": employee})
    now = clock.now()
    Invitation.objects.filter(employee=employee, used_at__isnull=True).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        employee=employee,
        token_hash=token_digest(token),
        created_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(hours=settings.INVITATION_VALID_HOURS),
    )
    kind = "account.password_reset.sent" if _has_password(employee) else "account.invitation.sent"
    payload = {"to": employee.email, "expires_at": invitation.expires_at.isoformat()}
    record(kind, actor, payload, employee)
    link = settings.SITE_URL + reverse("front:accept_invitation", args=[token])
    transaction.on_commit(lambda: _send_invitation(employee, link))
    return invitation, token


def may_send_password_link(actor, employee: Employee) -> bool:
    """Whether `actor` may send `employee` an invitation or password-reset link."""
    if not Employee.objects.managed_by(actor).filter(pk=employee.pk).exists():
        return False
    try:
        _check_may_reset(actor, employee.user)
    except (PermissionDenied, ActionError):
        return False
    return True


def _check_may_reset(actor, user) -> None:
    if user is None or not user.has_usable_password():
        return
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may reset an existing password."))
    if user.is_superuser or user.role_assignments.exists():
        raise ActionError(
            _("This account holds a role; its owner changes the password under My profile.")
        )


def _has_password(employee: Employee) -> bool:
    return employee.user is not None and employee.user.has_usable_password()


def _send_invitation(employee: Employee, link: str) -> None:
    hours = settings.INVITATION_VALID_HOURS
    body = _(
        "Hello %(name)s,\n\nYou have been invited to kaohe. Open this link within %(hours)s "
        "hours to set your password:\n\n%(link)s\n\nThe link works once."
    ) % {"name": employee.name, "hours": hours, "link": link}
    send_mail(_("Your kaohe account"), body, None, [employee.email])


def find_invitation(token: str) -> Invitation | None:
    """The invitation for `token` if it is still usable."""
    return (
        Invitation.objects.select_related("employee__user")
        .filter(token_hash=token_digest(token), used_at__isnull=True, expires_at__gt=clock.now())
        .first()
    )


@transaction.atomic
def do_accept_invitation(token: str, password: str):
    """Sets the password of the invited employee's account (creating it) and uses the link."""
    now = clock.now()
    used = Invitation.objects.filter(
        token_hash=token_digest(token), used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if used != 1:
        raise ActionError(_("This link has expired or was already used."))
    employee = (
        Invitation.objects.select_related("employee").get(token_hash=token_digest(token)).employee
    )
    user = employee.user
    holds_role = user is not None and (user.is_superuser or user.role_assignments.exists())
    if holds_role and user.has_usable_password():
        raise ActionError(
            _("This account holds a role; its owner changes the password under My profile.")
        )
    if user is None:
        user = get_user_model().objects.create_user(
            username=employee.employee_no, email=employee.email
        )
        employee.user = user
        employee.save(update_fields=["user"])
    user.set_password(password)
    user.save(update_fields=["password"])
    record("account.password.set_by_link", user, {"username": user.get_username()}, employee)
    return user


@transaction.atomic
def do_change_own_password(form):
    """Saves a validated PasswordChangeForm (which checked the current password)."""
    user = form.save()
    employee = getattr(user, "employee", None)
    record("account.password.changed", user, {"username": user.get_username()}, employee)
    return user


def new_api_secret() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"kh_{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def do_create_api_key(
    actor,
    name: str,
    scopes: list[str],
    org_units: list[OrgUnit] | None = None,
    sources: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key; the returned secret is shown once and never stored. `sources` limits
    which sources' facts it may send (codes; the caller checks that they exist)."""
    if actor is not None:
        _require_hr_admin(actor)
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown or not scopes:
        raise ActionError(
            _("Unknown scope %(scopes)s; choose from %(allowed)s.")
            % {"scopes": ", ".join(unknown) or "-", "allowed": ", ".join(API_SCOPES)}
        )
    sources = sorted(set(sources or []))
    if sources and "facts:write" not in scopes:
        raise ActionError(_("Limiting a key to sources needs the facts:write scope."))
    prefix, secret = new_api_secret()
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=token_digest(secret),
        scopes=sorted(set(scopes)),
        sources=sources,
        created_by=actor,
        created_at=clock.now(),
    )
    if org_units:
        key.org_units.set(org_units)
    payload = {"name": name, "prefix": prefix, "scopes": key.scopes,
               "org_units": sorted(unit.code for unit in org_units or []),
               "sources": sources}  # fmt: skip
    record("api.key.created", actor, payload, api_key=prefix)
    return key, secret


API_KEY_USE_INTERVAL = dt.timedelta(minutes=1)


def find_api_key(secret: str) -> ApiKey | None:
    """The unrevoked key whose secret this is (with its org units), else None."""
    if not secret.startswith("kh_") or len(secret) > 200:
        return None
    return (
        ApiKey.objects.prefetch_related("org_units")
        .filter(key_hash=token_digest(secret), revoked_at__isnull=True)
        .first()
    )


def note_api_key_use(key: ApiKey, ip: str | None) -> None:
    """Records when and from where `key` was last used: at most one write a minute."""
    now = clock.now()
    if key.last_used_at is not None and now - key.last_used_at < API_KEY_USE_INTERVAL:
        return
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_USE_INTERVAL)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now, last_used_ip=ip)
    key.last_used_at, key.last_used_ip = now, ip


@transaction.atomic
def do_revoke_api_key(actor, key: ApiKey, *, system: bool = False) -> ApiKey:
    """Revokes `key` for good. `system=True` (the command line) needs no actor."""
    if not system:
        _require_hr_admin(actor)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.save(update_fields=["revoked_at"])
        record("api.key.revoked", actor, {"name": key.name}, api_key=key.prefix)
    return key


EMPLOYEE_FIELDS = (
    "name", "org_unit", "manager", "position", "gender", "birth_date", "hire_date",
    "email", "mobile", "status",
)  # fmt: skip
PLACEMENT_FIELDS = ("org_unit", "manager", "position")


class _UpsertReach:
    """Whom and where an upsert may write: an API key's reach, a user's, or the system's."""

    def __init__(self, actor, key: ApiKey | None) -> None:
        self.actor, self.key = actor, key
        if key is not None and "employees:write" not in key.scopes:
            raise PermissionDenied(_("This API key may not change employees."))
        if key is None and actor is not None and not is_hr(actor):
            raise PermissionDenied(_("Only HR may change employees."))

    def writable(self):
        if self.key is not None:
            return employees_visible_to_key(self.key)
        if self.actor is not None:
            return Employee.objects.managed_by(self.actor)
        return Employee.objects.all()

    def readable(self):
        if self.key is None and self.actor is not None:
            return Employee.objects.visible_to(self.actor)
        return self.writable()

    def allows_unit(self, unit: OrgUnit) -> bool:
        if self.key is not None:
            units = list(self.key.org_units.all())
            return not units or any(unit.path.startswith(u.path) for u in units)
        if self.actor is not None:
            return is_hr_admin(self.actor) or _unit_in_scope(self.actor, unit)
        return True


@transaction.atomic
def do_upsert_employee(
    actor, data: dict, via_key: ApiKey | None = None, reason: str = ""
) -> tuple[Employee, bool]:
    """Creates or updates employee `data["employee_no"]`; returns it and whether it is new.

    `data` holds the fields to set: the model's plain fields, `org_unit` as a unit code and
    `manager` as an employee number or None. Fields left out keep their value; a new
    employee needs `name`, `org_unit` and `hire_date`. A change of unit, manager or
    position is recorded as a placement from today. Who writes is `via_key` (its scopes
    and org units decide) or else `actor` (HR over the employee and the target unit), or
    the system when both are None. Raises FieldErrors naming each rejected field.
    """
    reach = _UpsertReach(actor, via_key)
    if via_key is not None and not reason:
        reason = f"API key {via_key.name} ({via_key.prefix})"[:200]
    employee = Employee.objects.select_for_update().filter(employee_no=data["employee_no"]).first()
    if employee is not None and not reach.writable().filter(pk=employee.pk).exists():
        raise PermissionDenied(_("You may not change this employee."))
    values = _upsert_values(employee, data, reach)
    who = via_key or actor
    if employee is None:
        employee = Employee.objects.create(employee_no=data["employee_no"], **values)
        open_placement(employee, actor, employee.hire_date, "hired")
        fields = {name: evidence_value(value) for name, value in values.items()}
        record("org.employee.created", who, {"fields": fields, "reason": reason}, employee)
        return employee, True
    changes = _update_employee(employee, actor, values, reason)
    if changes:
        record("org.employee.updated", who, {"changes": changes, "reason": reason}, employee)
    return employee, False


def evidence_value(value):
    """A field's value as the ledger records it: dates as ISO text, people and units by
    their number or code."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Employee):
        return value.employee_no
    if isinstance(value, OrgUnit):
        return value.code
    return value


def _upsert_values(employee: Employee | None, data: dict, reach: _UpsertReach) -> dict:
    values = {name: data[name] for name in EMPLOYEE_FIELDS if name in data}
    errors: dict[str, str] = {}
    if employee is None:
        for name in ("name", "org_unit", "hire_date"):
            if not values.get(name):
                errors[name] = _("This field is required.")
    if values.get("org_unit"):
        _resolve_unit(values, reach, errors)
    if values.get("manager") is not None:
        _resolve_manager(values, employee, data["employee_no"], reach, errors)
    if values.get("status", EmploymentStatus.ACTIVE) not in EmploymentStatus.values:
        errors["status"] = _("Unknown employment status.")
    if "gender" in values:
        values["gender"] = values["gender"] or ""
        if values["gender"] not in {"", *Gender.values}:
            errors["gender"] = _("Unknown gender.")
    if errors:
        raise FieldErrors(errors)
    return values


def _resolve_unit(values: dict, reach: _UpsertReach, errors: dict) -> None:
    code = values["org_unit"]
    unit = OrgUnit.objects.filter(code=code).first()
    if unit is None:
        errors["org_unit"] = _("There is no org unit %(code)s.") % {"code": code}
    elif not reach.allows_unit(unit):
        errors["org_unit"] = _("You may not place people in org unit %(code)s.") % {"code": code}
    else:
        values["org_unit"] = unit


def _resolve_manager(values, employee, employee_no, reach, errors) -> None:
    number = values["manager"]
    if number == employee_no:
        errors["manager"] = _("An employee cannot be their own manager.")
        return
    # Someone outside the caller's reach reads as unknown, so numbers cannot be probed.
    manager = reach.readable().filter(employee_no=number).first()
    if manager is None:
        errors["manager"] = _("There is no employee %(number)s.") % {"number": number}
        return
    if employee is not None:
        try:
            check_manager(employee, manager)
        except ActionError as exc:
            errors["manager"] = str(exc)
            return
    values["manager"] = manager


def _differs(employee: Employee, name: str, value) -> bool:
    if name in ("org_unit", "manager"):
        return getattr(employee, f"{name}_id") != getattr(value, "pk", None)
    return getattr(employee, name) != value


def _update_employee(employee: Employee, actor, values: dict, reason: str) -> dict:
    """Applies the changed values; returns {field: [old, new]} for the ledger."""
    changed = [name for name, value in values.items() if _differs(employee, name, value)]
    changes = {
        name: [evidence_value(getattr(employee, name)), evidence_value(values[name])]
        for name in changed
    }
    old_hire_date = employee.hire_date
    for name in changed:
        setattr(employee, name, values[name])
    plain = [name for name in changed if name not in PLACEMENT_FIELDS]
    if plain:
        employee.save(update_fields=plain)
    if "hire_date" in changed:
        _move_first_placement(employee, old_hire_date)
    placed = [name for name in changed if name in PLACEMENT_FIELDS]
    if placed:
        _record_placement(employee, actor, reason, placed)
    return changes


def _move_first_placement(employee: Employee, old_hire_date: dt.date) -> None:
    """A corrected hire date moves the start of the placement that began on the old one."""
    first = employee.placements.order_by("valid_from").first()
    if first is None or first.valid_from != old_hire_date:
        return
    if first.valid_to is None or employee.hire_date < first.valid_to:
        first.valid_from = employee.hire_date
        first.save(update_fields=["valid_from"])


def _record_placement(employee: Employee, actor, reason: str, fields: list[str]) -> None:
    effective = company_today()
    current = employee.placements.filter(valid_to__isnull=True).first()
    if current is None or effective > current.valid_from:
        _replace_placement(employee, actor, effective, reason, fields)
        return
    # The current placement began today or has yet to begin (a future hire): correct it
    # instead of stacking a placement that would last no day at all.
    employee.save(update_fields=fields)
    current.org_unit_id, current.manager_id = employee.org_unit_id, employee.manager_id
    current.position = employee.position
    current.recorded_by = actor if getattr(actor, "pk", None) else None
    current.recorded_at = clock.now()
    current.reason = reason
    current.save(
        update_fields=["org_unit", "manager", "position", "recorded_by", "recorded_at", "reason"]
    )


COMPANY_FIELDS = ("name", "timezone", "has_union", "deadline_day_kind")


@transaction.atomic
def do_update_company(actor, **fields) -> Company:
    """Changes company-wide settings (HR admin only); unknown timezones are refused."""
    _require_hr_admin(actor)
    unknown = set(fields) - set(COMPANY_FIELDS)
    if unknown:
        raise ActionError(_("Unknown company setting %(names)s.") % {"names": ", ".join(unknown)})
    if "timezone" in fields:
        _check_timezone(fields["timezone"])
    company = Company.get()
    changes = {
        name: [getattr(company, name), value]
        for name, value in fields.items()
        if getattr(company, name) != value
    }
    for name, value in fields.items():
        setattr(company, name, value)
    company.save(update_fields=list(fields))
    if changes:
        record("company.settings.changed", actor, {"changes": changes})
    return company


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ActionError(
            _("%(name)s is not a known timezone; use a name such as Asia/Shanghai.")
            % {"name": name}
        ) from None


@transaction.atomic
def do_set_workday_override(actor, date: dt.date, is_working_day: bool, note: str = ""):
    _require_hr_admin(actor)
    override, _created = WorkdayOverride.objects.update_or_create(
        date=date, defaults={"is_working_day": is_working_day, "note": note}
    )
    payload = {"date": date.isoformat(), "is_working_day": is_working_day, "note": note}
    record("company.workday_override.set", actor, payload)
    return override


@transaction.atomic
def do_remove_workday_override(actor, date: dt.date) -> None:
    _require_hr_admin(actor)
    if WorkdayOverride.objects.filter(date=date).delete()[0]:
        record("company.workday_override.removed", actor, {"date": date.isoformat()})
