"""Company-wide settings for the HR admin: name, timezone, union, working days."""

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.org.actions import (
    ActionError,
    company_today,
    do_remove_workday_override,
    do_set_workday_override,
    do_update_company,
)
from kaohe.org.models import Company, WorkdayOverride, is_hr_admin, roles_of
from kaohe.org.workdays import year_sources, years_in_use


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ["name", "timezone", "has_union", "deadline_day_kind"]


class OverrideForm(forms.Form):
    date = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    is_working_day = forms.TypedChoiceField(
        label=gettext_lazy("This day is"),
        choices=[("1", gettext_lazy("a working day")), ("0", gettext_lazy("a day off"))],
        coerce=lambda value: value == "1",
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


@login_required
def company_settings(request):
    if not roles_of(request.user):
        raise PermissionDenied
    company = Company.get()
    sources = year_sources(years_in_use(company))  # before the form puts its input in company
    form = CompanyForm(request.POST or None, instance=company)
    if request.method == "POST":
        _require_admin(request.user)
        if form.is_valid():
            try:
                do_update_company(request.user, **form.cleaned_data)
            except ActionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Company settings saved."))
                return redirect("front:company_settings")
    context = {
        "form": form,
        "override_form": OverrideForm(),
        "overrides": WorkdayOverride.objects.filter(date__year__gte=company_today().year - 1),
        "can_edit": is_hr_admin(request.user),
        "year_sources": sources,
    }
    return render(
        request, "front/company_settings.html", context, status=400 if form.errors else 200
    )


def _require_admin(user) -> None:
    if not is_hr_admin(user):
        raise PermissionDenied


@login_required
@require_POST
def workday_override(request):
    _require_admin(request.user)
    form = OverrideForm(request.POST)
    if form.is_valid():
        do_set_workday_override(request.user, **form.cleaned_data)
        messages.success(request, _("Working-day exception saved."))
    else:
        messages.error(request, _("Please give a valid date."))
    return redirect("front:company_settings")


@login_required
@require_POST
def remove_workday_override(request, day: str):
    _require_admin(request.user)
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise Http404 from None
    do_remove_workday_override(request.user, date)
    return redirect("front:company_settings")


@login_required
def settings_index(request):
    """One entry in the navigation for the settings pages, listing those the user may open."""
    roles = roles_of(request.user)
    if not roles:
        raise PermissionDenied
    return render(
        request,
        "front/settings_index.html",
        {"is_hr_admin": is_hr_admin(request.user), "is_hr": bool(roles - {"auditor"})},
    )
