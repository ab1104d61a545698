"""Warning rules for the HR admin: the list, a form per kind with a preview (whom it flags
today and in each of the last 12 months) and each rule's version history."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kaohe.alerts.actions import do_save_rule, may_edit_rules
from kaohe.alerts.models import UNRESOLVED, Rule
from kaohe.alerts.preview import preview
from kaohe.front.forms_rules import RuleForm, initial_for
from kaohe.lib import clock
from kaohe.org.actions import ActionError, FieldErrors


def _require_rule_editor(user) -> None:
    if not may_edit_rules(user):
        raise PermissionDenied


@login_required
def rule_list(request):
    _require_rule_editor(request.user)
    rules = Rule.objects.annotate(
        open_alerts=Count("alerts", filter=Q(alerts__status__in=UNRESOLVED))
    ).order_by("code")
    return render(request, "front/rule_list.html", {"rules": rules})


def version_history(rule: Rule) -> list[dict]:
    """Each saved version, newest first, with the parts that changed from the one before."""
    versions = list(rule.versions.select_related("saved_by").order_by("number"))
    history, before = [], {}
    for version in versions:
        content = version.content or {}
        changed = sorted(k for k in content if before and content.get(k) != before.get(k))
        history.append({"version": version, "changed": changed})
        before = content
    return history[::-1]


@login_required
def rule_edit(request, code: str | None = None):
    _require_rule_editor(request.user)
    rule = get_object_or_404(Rule, code=code) if code is not None else None
    kind = request.GET.get("kind")
    form = RuleForm(request.POST or None, initial=initial_for(rule, kind), rule=rule, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            saved = do_save_rule(
                request.user, rule, form.data_for_action(), list(form.cleaned_data["scope_units"])
            )
        except FieldErrors as exc:
            form.add_action_errors(exc.errors)
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Rule %(code)s saved as version %(number)s.")
                % {"code": saved.code, "number": saved.version},
            )
            return redirect("front:rule_edit", saved.code)
    context = {
        "form": form,
        "rule": rule,
        "history": version_history(rule) if rule else [],
    }
    return render(request, "front/rule_form.html", context)


@login_required
@require_POST
def rule_preview(request):
    """The form as it stands, evaluated now and at the last 12 month-ends (htmx)."""
    _require_rule_editor(request.user)
    form = RuleForm(request.POST, rule=Rule(code="preview"))
    context = {"form": form, "result": None}
    form.is_valid()
    # Only what the evaluation needs must be valid: the kind's parameters and the scope.
    blocking = set(form.errors) & {*[f.name for f in form.param_fields()], "scope_units", "kind"}
    if blocking:
        context["errors"] = [
            (form.fields[name].label if name in form.fields else "", " ".join(form.errors[name]))
            for name in sorted(blocking)
        ]
    else:
        context["result"] = preview(form.spec(), clock.now())
    return render(request, "front/rule_preview.html", context)
