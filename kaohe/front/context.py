from kaohe.org.models import Role, roles_of


def navigation(request):
    """Which console links the signed-in user gets."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = roles_of(user)
    employee = getattr(user, "employee", None)
    return {
        "nav_roles": roles,
        "nav_is_hr": bool(roles & {Role.HR_ADMIN, Role.HR_PARTNER}),
        "nav_is_hr_admin": Role.HR_ADMIN in roles,
        "nav_may_audit": bool(roles & {Role.HR_ADMIN, Role.AUDITOR}),
        "nav_sees_people": bool(roles) or (employee is not None and employee.reports.exists()),
        "nav_employee": employee,
    }
