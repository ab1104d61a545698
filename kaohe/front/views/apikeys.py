"""The HR admin's API keys: create one (its secret is shown once), list them, revoke one."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.integrations.models import Source
from kaohe.org.actions import API_SCOPES, ActionError, do_create_api_key, do_revoke_api_key
from kaohe.org.models import ApiKey, OrgUnit, is_hr_admin

SCOPE_HELP = {
    "employees:read": gettext_lazy("read employees and org units"),
    "employees:write": gettext_lazy("create and update employees"),
    "targets:write": gettext_lazy("set targets"),
    "facts:write": gettext_lazy("send business records (deals, payments, ...)"),
    "alerts:read": gettext_lazy("read warnings"),
    "documents:read": gettext_lazy("read documents put before employees and their evidence"),
    "reviews:read": gettext_lazy("read assessment cycles and results"),
}


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Key name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(scope, scope) for scope in API_SCOPES],
        widget=forms.CheckboxSelectMultiple,
    )
    org_units = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Limit to org units"),
        queryset=OrgUnit.objects.order_by("path"),
        to_field_name="code",
        required=False,
        help_text=gettext_lazy("Leave empty for the whole company."),
    )
    sources = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Limit to sources"),
        queryset=Source.objects.all(),
        to_field_name="code",
        required=False,
        help_text=gettext_lazy(
            "For facts:write: the sources whose facts this key may send. "
            "Leave empty for any source."
        ),
    )


def _require_hr_admin(user) -> None:
    if not is_hr_admin(user):
        raise PermissionDenied


@login_required
def api_keys(request):
    _require_hr_admin(request.user)
    form = ApiKeyForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created, secret = do_create_api_key(
                request.user,
                data["name"],
                data["scopes"],
                list(data["org_units"]),
                [source.code for source in data["sources"]],
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            form = ApiKeyForm()
    context = {
        "form": form,
        "scope_help": [(box, SCOPE_HELP.get(box.data["value"], "")) for box in form["scopes"]],
        "keys": ApiKey.objects.select_related("created_by").prefetch_related("org_units"),
        "created": created,
        "secret": secret,
    }
    response = render(request, "front/api_keys.html", context)
    if secret:
        response["Cache-Control"] = "no-store"  # the one page that ever holds the secret
    return response


@login_required
@require_POST
def revoke(request, key_id):
    _require_hr_admin(request.user)
    key = get_object_or_404(ApiKey, public_id=key_id)
    do_revoke_api_key(request.user, key)
    messages.success(
        request, _("Key %(name)s is revoked; requests with it are refused.") % {"name": key.name}
    )
    return redirect("front:api_keys")
