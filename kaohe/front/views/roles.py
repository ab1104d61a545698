"""The HR admin grants and revokes roles: HR partner of a unit, HR admin, auditor."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.org.actions import ActionError, do_assign_role, do_revoke_role
from kaohe.org.models import Employee, OrgUnit, Role, RoleAssignment, is_hr_admin


class GrantForm(forms.Form):
    who = forms.CharField(
        label=gettext_lazy("Username or employee number"), max_length=150, strip=True
    )
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Org unit (HR partner only)"),
        queryset=OrgUnit.objects.all(),
        to_field_name="code",
        required=False,
    )

    def clean_who(self):
        who = self.cleaned_data["who"]
        user = get_user_model().objects.filter(username=who).first()
        if user is None:
            employee = Employee.objects.filter(employee_no=who, user__isnull=False).first()
            user = employee.user if employee else None
        if user is None:
            raise forms.ValidationError(
                _("No login is called %(who)s, and no employee with that number has a login.")
                % {"who": who}
            )
        return user


def _require_admin(user) -> None:
    if not is_hr_admin(user):
        raise PermissionDenied


@login_required
def roles(request):
    _require_admin(request.user)
    form = GrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_assign_role(request.user, data["who"], data["role"], data["unit"])
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Role granted."))
            return redirect("front:roles")
    assignments = RoleAssignment.objects.select_related("user__employee", "org_unit").order_by(
        "role", "org_unit__path", "user__username"
    )
    context = {"form": form, "assignments": assignments}
    return render(request, "front/roles.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def revoke_role(request, assignment_id: int):
    _require_admin(request.user)
    assignment = get_object_or_404(RoleAssignment, pk=assignment_id)
    try:
        do_revoke_role(request.user, assignment)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Role revoked."))
    return redirect("front:roles")
