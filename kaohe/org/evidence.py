"""Who may see which ledger entries. The ledger knows employees only by number; this decides."""

from django.db import transaction
from django.db.models import QuerySet

from kaohe.ledger.log import append
from kaohe.ledger.models import Entry
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib.http import current_request
from kaohe.org.models import COMPANY_WIDE_ROLES, Employee, Role, employees_visible_to_key, roles_of


def may_audit(user) -> bool:
    """Auditors and HR admins browse the whole log."""
    return bool(roles_of(user) & {Role.HR_ADMIN, *COMPANY_WIDE_ROLES})


def entries_visible_to(user) -> QuerySet:
    """The whole log for auditors and HR admins; otherwise the entries about people the user
    may see (an employee: her own)."""
    if may_audit(user):
        return Entry.objects.all()
    numbers = Employee.objects.visible_to(user).values("employee_no")
    return Entry.objects.filter(employee_no__in=numbers)


def entries_about(user) -> QuerySet:
    """The entries whose subject is the user's own employee record."""
    employee = getattr(user, "employee", None)
    if employee is None:
        return Entry.objects.none()
    return Entry.objects.filter(employee_no=employee.employee_no)


def entries_visible_to_key(key) -> QuerySet:
    numbers = employees_visible_to_key(key).values("employee_no")
    if not key.org_units.exists():
        return Entry.objects.all()
    return Entry.objects.filter(employee_no__in=numbers)


def actor_label(actor) -> str:
    """How an actor is named in the ledger: a stable id and a readable name."""
    if actor is None:
        return "system"
    if hasattr(actor, "key_hash"):
        return f"apikey:{actor.prefix}:{actor.name}"
    return f"user:{actor.pk}:{actor.get_username()}"


def record(kind: str, actor, payload: dict, employee: Employee | None = None, **subject):
    """Appends a ledger entry about `employee` (and further subject ids) in the current
    transaction, with the current request's IP and user agent when there is one."""
    if employee is not None:
        subject = {"employee": employee.employee_no, **subject}
    entry = append(kind, subject, actor_label(actor), payload, request=current_request.get())
    # Sign a checkpoint soon after, so the window in which the entry stands unsigned is short.
    transaction.on_commit(checkpoint_task.enqueue)
    return entry
