"""Company, org units, employees, their history and who may see whom."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from kaohe.org.validators import validate_employee_no


class DayKind(models.TextChoices):
    CALENDAR = "calendar", _("calendar days")
    WORKING = "working", _("working days")


class Company(models.Model):
    """The one employer this installation serves (a singleton row, pk=1)."""

    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(_("timezone"), max_length=64, default="Asia/Shanghai")
    has_union = models.BooleanField(_("has a trade union"), default=False)
    deadline_day_kind = models.CharField(
        _("deadlines count in"), max_length=10, choices=DayKind.choices, default=DayKind.WORKING
    )

    class Meta:
        verbose_name = _("company")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="company_singleton")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def get(cls) -> "Company":
        company, _created = cls.objects.get_or_create(pk=1, defaults={"name": "kaohe"})
        return company


class WorkdayOverride(models.Model):
    """An admin's correction to the official working-day schedule for one date."""

    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("is a working day"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'work' if self.is_working_day else 'rest'}"


class OrgUnit(models.Model):
    """A node in the company's org tree. `path` lists the ids from the root: "/1/4/9/"."""

    code = models.CharField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=500, db_index=True, editable=False)

    class Meta:
        ordering = ["path"]
        verbose_name = _("org unit")

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def descendants_q(self, prefix: str = "") -> Q:
        """Matches this unit and every unit below it (on a field prefixed by `prefix`)."""
        return Q(**{f"{prefix}path__startswith": self.path})


class Gender(models.TextChoices):
    MALE = "male", _("male")
    FEMALE = "female", _("female")


class EmploymentStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    PROBATION = "probation", _("on probation")
    LEAVE = "leave", _("on leave")
    TERMINATED = "terminated", _("left the company")

    @classmethod
    def employed(cls) -> list[str]:
        return [str(cls.ACTIVE), str(cls.PROBATION), str(cls.LEAVE)]


class Role(models.TextChoices):
    HR_PARTNER = "hr_partner", _("HR partner")
    HR_ADMIN = "hr_admin", _("HR admin")
    AUDITOR = "auditor", _("auditor")


COMPANY_WIDE_ROLES = (Role.HR_ADMIN, Role.AUDITOR)


def reporting_subtree_sql(manager_id: int) -> RawSQL:
    """Ids of everyone who reports to `manager_id`, directly or indirectly."""
    table = Employee._meta.db_table
    return RawSQL(  # noqa: S611 - the only parameter is bound
        f"WITH RECURSIVE sub(id) AS ("  # noqa: S608 - table name is ours, id is a parameter
        f" SELECT id FROM {table} WHERE manager_id = %s"
        f" UNION SELECT e.id FROM {table} e JOIN sub ON e.manager_id = sub.id"
        f") SELECT id FROM sub",
        [manager_id],
    )


def is_former_employee(user) -> bool:
    """True when the user's employee record says they have left: they keep no role or reach."""
    employee = getattr(user, "employee", None)
    return employee is not None and employee.status == EmploymentStatus.TERMINATED


def active_roles(user) -> list["RoleAssignment"]:
    """The role assignments in force for `user` (none once they have left the company)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    if is_former_employee(user):
        return []
    return list(user.role_assignments.select_related("org_unit"))


def _hr_units_q(assignments, prefix: str = "") -> Q:
    condition = Q(pk__in=[])
    for assignment in assignments:
        if assignment.role == Role.HR_PARTNER and assignment.org_unit_id:
            condition |= assignment.org_unit.descendants_q(prefix)
    return condition


class EmployeeQuerySet(models.QuerySet):
    def visible_to(self, user) -> "EmployeeQuerySet":
        """The employees `user` may see: the one place that decides it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        roles = active_roles(user)
        if any(r.role in COMPANY_WIDE_ROLES for r in roles):
            return self
        condition = _hr_units_q(roles, "org_unit__")
        me = getattr(user, "employee", None)
        if me is not None:
            condition |= Q(pk=me.pk)
            if me.status != EmploymentStatus.TERMINATED:
                condition |= Q(pk__in=reporting_subtree_sql(me.pk))
        return self.filter(condition)

    def managed_by(self, user) -> "EmployeeQuerySet":
        """The employees whose data `user` may change (HR of their unit, HR admin)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        roles = active_roles(user)
        if any(r.role == Role.HR_ADMIN for r in roles):
            return self
        return self.filter(_hr_units_q(roles, "org_unit__"))


class Employee(models.Model):
    employee_no = models.CharField(
        _("employee number"), max_length=32, unique=True, validators=[validate_employee_no]
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    hire_date = models.DateField(_("hire date"))
    org_unit = models.ForeignKey(
        OrgUnit, models.PROTECT, related_name="employees", verbose_name=_("org unit")
    )
    position = models.CharField(_("position"), max_length=100, blank=True)
    manager = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        verbose_name=_("line manager"),
    )
    status = models.CharField(
        _("employment status"),
        max_length=12,
        choices=EmploymentStatus.choices,
        default=EmploymentStatus.ACTIVE,
    )
    email = models.EmailField(_("email"), blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="employee",
    )

    objects = EmployeeQuerySet.as_manager()

    class Meta:
        ordering = ["employee_no"]
        verbose_name = _("employee")
        indexes = [
            models.Index(fields=["org_unit", "employee_no"], name="employee_unit_no_idx"),
            models.Index(fields=["manager"], name="employee_manager_idx"),
            models.Index(fields=["name"], name="employee_name_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(manager=models.F("pk")), name="employee_not_own_manager"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.employee_no})"


class Placement(models.Model):
    """Where an employee stood from `valid_from` up to (not including) `valid_to`.

    Answers "who was her manager / which unit was she in on a given day" for later
    attribution and for evidence; written only by `org.actions`.
    """

    employee = models.ForeignKey(Employee, models.CASCADE, related_name="placements")
    org_unit = models.ForeignKey(OrgUnit, models.PROTECT, related_name="+")
    manager = models.ForeignKey(Employee, models.PROTECT, null=True, blank=True, related_name="+")
    position = models.CharField(max_length=100, blank=True)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["employee", "valid_from"]
        constraints = [
            # At most one open placement per employee: the current one.
            models.UniqueConstraint(
                fields=["employee"], condition=Q(valid_to__isnull=True), name="placement_one_open"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="placement_valid_range",
            ),
        ]
        indexes = [
            models.Index(fields=["employee", "valid_from"], name="placement_emp_from_idx"),
        ]


class CurrentRoleManager(models.Manager):
    """Only assignments in force; revoked ones stay in the table as history."""

    def get_queryset(self):
        return super().get_queryset().filter(revoked_at__isnull=True)


class RoleAssignment(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    org_unit = models.ForeignKey(
        OrgUnit, models.CASCADE, null=True, blank=True, related_name="role_assignments"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    # The default manager (also behind user.role_assignments) sees current roles only.
    objects = CurrentRoleManager()
    history = models.Manager()  # noqa: DJ012 - the default manager must come first

    class Meta:
        base_manager_name = "history"
        constraints = [
            models.CheckConstraint(
                condition=Q(role="hr_partner", org_unit__isnull=False)
                | (~Q(role="hr_partner") & Q(org_unit__isnull=True)),
                name="role_scope_matches_role",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "org_unit"],
                condition=Q(revoked_at__isnull=True),
                name="role_assignment_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=Q(org_unit__isnull=True, revoked_at__isnull=True),
                name="role_assignment_unique_companywide",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} {self.org_unit or ''}".strip()


def roles_of(user) -> set[str]:
    roles = {assignment.role for assignment in active_roles(user)}
    if getattr(user, "is_superuser", False) and user.is_active:
        roles.add(Role.HR_ADMIN)
    return roles


def is_hr(user) -> bool:
    return bool(roles_of(user) & {Role.HR_ADMIN, Role.HR_PARTNER})


def is_hr_admin(user) -> bool:
    return Role.HR_ADMIN in roles_of(user)


def units_visible_to(user) -> models.QuerySet:
    """Org units `user` may browse: all for company-wide roles, else their HR scope."""
    roles = roles_of(user)
    if roles & set(COMPANY_WIDE_ROLES):
        return OrgUnit.objects.all()
    return OrgUnit.objects.filter(_hr_units_q(active_roles(user)))


class Invitation(models.Model):
    """A one-time link that lets an employee set a password; only its hash is stored."""

    employee = models.ForeignKey(Employee, models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class LoginFailure(models.Model):
    """A failed login, kept for the throttle window."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_user_idx"),
            models.Index(fields=["ip", "at"], name="loginfailure_ip_idx"),
        ]


class ApiKey(models.Model):
    """A key for an integration client. The secret is shown once; we keep its SHA-256."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    # Codes of the sources whose facts the key may send; empty: any source.
    sources = models.JSONField(default=list, blank=True)
    org_units = models.ManyToManyField(OrgUnit, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


def employees_visible_to_key(key: ApiKey) -> EmployeeQuerySet:
    """The employees an API key may read or write: all, or those in its org units."""
    units = list(key.org_units.all())
    if not units:
        return Employee.objects.all()
    condition = Q(pk__in=[])
    for unit in units:
        condition |= unit.descendants_q("org_unit__")
    return Employee.objects.filter(condition)
