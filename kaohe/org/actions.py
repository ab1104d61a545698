"""Every change of significance to the organisation goes through a function here.

Each checks the actor's permission and the current state, then writes in one transaction.
(The evidence ledger will record these events once it exists.)
"""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.org.models import (
    ApiKey,
    Company,
    Employee,
    Invitation,
    OrgUnit,
    Placement,
    Role,
    RoleAssignment,
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
)


class ActionError(Exception):
    """A request the current state does not allow; the message is for the user."""


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
    return _replace_placement(employee, actor, effective, reason, ["org_unit", "position"])


def _unit_in_scope(actor, unit: OrgUnit) -> bool:
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
    return _replace_placement(employee, actor, effective, reason, ["manager"])


@transaction.atomic
def do_assign_role(actor, user, role: str, org_unit: OrgUnit | None = None) -> RoleAssignment:
    _require_hr_admin(actor)
    if role == Role.HR_PARTNER and org_unit is None:
        raise ActionError(_("An HR partner needs an org unit."))
    if role != Role.HR_PARTNER:
        org_unit = None
    assignment, _created = RoleAssignment.objects.get_or_create(
        user=user,
        role=role,
        org_unit=org_unit,
        defaults={"granted_by": actor, "granted_at": clock.now()},
    )
    return assignment


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def do_invite(actor, employee: Employee) -> tuple[Invitation, str]:
    """Sends `employee` a one-time link to set a password. Returns the link's token."""
    _require_hr_over(actor, employee)
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
    link = settings.SITE_URL + reverse("front:accept_invitation", args=[token])
    transaction.on_commit(lambda: _send_invitation(employee, link))
    return invitation, token


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
    if user is None:
        user = get_user_model().objects.create_user(
            username=employee.employee_no, email=employee.email
        )
        employee.user = user
        employee.save(update_fields=["user"])
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def new_api_secret() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"kh_{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def do_create_api_key(
    actor, name: str, scopes: list[str], org_units: list[OrgUnit] | None = None
) -> tuple[ApiKey, str]:
    """Creates a key; the returned secret is shown once and never stored."""
    if actor is not None:
        _require_hr_admin(actor)
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown or not scopes:
        raise ActionError(
            _("Unknown scope %(scopes)s; choose from %(allowed)s.")
            % {"scopes": ", ".join(unknown) or "-", "allowed": ", ".join(API_SCOPES)}
        )
    prefix, secret = new_api_secret()
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=token_digest(secret),
        scopes=sorted(set(scopes)),
        created_by=actor,
        created_at=clock.now(),
    )
    if org_units:
        key.org_units.set(org_units)
    return key, secret


@transaction.atomic
def do_revoke_api_key(actor, key: ApiKey) -> ApiKey:
    _require_hr_admin(actor)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.save(update_fields=["revoked_at"])
    return key
