from kaohe.alerts.visibility import may_see_alerts_page
from kaohe.org.models import Role, roles_of
from kaohe.reviews.visibility import may_see_cycles_page


def navigation(request):
    """Which console links the signed-in user gets."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = roles_of(user)
    employee = getattr(user, "employee", None)
    sees_people = bool(roles) or (employee is not None and employee.reports.exists())
    return {
        "nav_roles": roles,
        "nav_is_hr": bool(roles & {Role.HR_ADMIN, Role.HR_PARTNER}),
        "nav_is_hr_admin": Role.HR_ADMIN in roles,
        "nav_may_audit": bool(roles & {Role.HR_ADMIN, Role.AUDITOR}),
        "nav_sees_people": sees_people,
        "nav_sees_alerts": sees_people or may_see_alerts_page(user),
        "nav_sees_cycles": may_see_cycles_page(user),
        "nav_employee": employee,
    }
