"""Who may see and who may manage which documents: the one place that decides it."""

from django.db.models import QuerySet

from kaohe.org.models import Employee, employees_visible_to_key
from kaohe.signing.models import VOID_STATES, Document


def documents_visible_to(user) -> QuerySet:
    """The employee sees her own documents in force; managers those of their reporting
    subtree; HR those of the units assigned to them; HR admins and auditors all."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Document.objects.none()
    rows = Document.objects.filter(employee__in=Employee.objects.visible_to(user).values("pk"))
    me = getattr(user, "employee", None)
    if me is not None:
        rows = rows.exclude(employee=me, state__in=VOID_STATES)
    return rows


def documents_visible_to_key(key) -> QuerySet:
    """The documents of the employees an API key may read."""
    if not key.org_units.exists():
        return Document.objects.all()
    return Document.objects.filter(employee__in=employees_visible_to_key(key).values("pk"))


def may_manage(user, document: Document) -> bool:
    """HR of the employee's unit and HR admins withdraw, answer disputes and record other
    deliveries; nobody manages their own documents; auditors only read."""
    me = getattr(user, "employee", None)
    if me is not None and me.pk == document.employee_id:
        return False
    return Employee.objects.managed_by(user).filter(pk=document.employee_id).exists()
