"""Login, logout, invitations and setting a password from an invitation link."""

from django import forms
from django.contrib import messages
from django.contrib.auth import (
    authenticate,
    login,
    logout,
    password_validation,
    update_session_auth_hash,
)
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.lib.http import client_ip, safe_next
from kaohe.org import throttle
from kaohe.org.actions import (
    ActionError,
    do_accept_invitation,
    do_change_own_password,
    do_invite,
    find_invitation,
)
from kaohe.org.models import Employee


class LoginForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Password"), strip=False, widget=forms.PasswordInput
    )


def login_view(request):
    if request.user.is_authenticated:
        return redirect("front:home")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = _authenticate(request, form)
        if user is not None:
            login(request, user)
            return redirect(safe_next(request, reverse("front:home")))
    status = 200 if request.method == "GET" or not form.errors else 400
    return render(request, "front/login.html", {"form": form}, status=status)


def _authenticate(request, form: LoginForm):
    username, ip = form.cleaned_data["username"], client_ip(request)
    if throttle.is_throttled(username, ip):
        form.add_error(None, _("Too many failed attempts. Please wait a while and try again."))
        return None
    user = authenticate(request, username=username, password=form.cleaned_data["password"])
    if user is None:
        throttle.record_failure(username, ip)
        form.add_error(None, _("The username or password is not correct."))
        return None
    throttle.clear_failures(username)
    return user


@require_POST
def logout_view(request):
    logout(request)
    return redirect("front:login")


class SetPasswordForm(forms.Form):
    password1 = forms.CharField(
        label=gettext_lazy("New password"), strip=False, widget=forms.PasswordInput
    )
    password2 = forms.CharField(
        label=gettext_lazy("New password again"), strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args, employee=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.employee = employee

    def clean(self):
        data = super().clean()
        if data.get("password1") != data.get("password2"):
            raise forms.ValidationError(_("The two passwords do not match."))
        if data.get("password1"):
            user = self.employee.user if self.employee else None
            password_validation.validate_password(data["password1"], user)
        return data


def accept_invitation(request, token: str):
    invitation = find_invitation(token)
    if invitation is None:
        return render(request, "front/invitation_invalid.html", status=404)
    form = SetPasswordForm(request.POST or None, employee=invitation.employee)
    if request.method == "POST" and form.is_valid():
        try:
            user = do_accept_invitation(token, form.cleaned_data["password1"])
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Your password is set. Welcome to kaohe."))
            return redirect("front:home")
    context = {"form": form, "employee": invitation.employee}
    return render(
        request, "front/invitation_accept.html", context, status=400 if form.errors else 200
    )


@login_required
@require_POST
def invite(request, employee_no: str):
    employee = get_object_or_404(Employee.objects.visible_to(request.user), employee_no=employee_no)
    try:
        do_invite(request.user, employee)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("An invitation was sent to %(email)s.") % {"email": employee.email}
        )
    return redirect("front:employee_detail", employee_no=employee.employee_no)


@login_required
def change_password(request):
    """Anyone signed in changes their own password, proving they know the current one."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = do_change_own_password(form)
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password has been changed."))
        return redirect("front:my_profile")
    status = 400 if form.errors else 200
    return render(request, "front/change_password.html", {"form": form}, status=status)
