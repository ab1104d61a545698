"""Assessments in the browser: templates, cycles with the progress of their result
documents, and the result editor (managers score, HR adjusts and publishes)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.lib import clock
from kaohe.lib.periods import Period, PeriodError
from kaohe.metrics.models import Metric
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.models import units_visible_to
from kaohe.reviews import actions, jobs
from kaohe.reviews.models import UNPUBLISHED, Cycle, ItemKind, ResultState, Template
from kaohe.reviews.visibility import (
    cycles_visible_to,
    may_edit_templates,
    may_manage_cycle,
    may_see_cycles_page,
    results_led_by,
    results_managed_by,
    results_visible_to,
    templates_visible_to,
)
from kaohe.signing.models import OPEN_STATES, DocumentState

PAGE_SIZE = 50
SCALE_ROWS = 6
ITEM_ROWS = 10


# --- progress of a cycle's result documents -------------------------------------------------


def _progress_filters(now) -> dict[str, Q]:
    """Each count of the cycle page and the filter behind its link."""
    return {
        "published": Q(document__isnull=False),
        "delivered": Q(document__delivered_at__isnull=False),
        "opened": Q(document__opened_at__isnull=False),
        "read": Q(document__read_at__isnull=False),
        "signed": Q(document__state=DocumentState.SIGNED),
        "disputed": Q(document__state=DocumentState.DISPUTED),
        "served": Q(document__state=DocumentState.SERVED),
        "unconfirmed": Q(document__state__in=OPEN_STATES),
        "overdue": Q(document__state__in=OPEN_STATES, document__due_at__lt=now),
        "unpublished": Q(state__in=UNPUBLISHED),
    }


PROGRESS_LABELS = {
    "published": gettext_lazy("published"),
    "delivered": gettext_lazy("delivered"),
    "opened": gettext_lazy("opened"),
    "read": gettext_lazy("read to the end"),
    "signed": gettext_lazy("signed"),
    "disputed": gettext_lazy("disputed"),
    "served": gettext_lazy("served otherwise"),
    "unconfirmed": gettext_lazy("not confirmed"),
    "overdue": gettext_lazy("overdue"),
    "unpublished": gettext_lazy("not published"),
}


def progress(results) -> dict[str, int]:
    filters = _progress_filters(clock.now())
    found = results.aggregate(**{key: Count("pk", filter=q) for key, q in filters.items()})
    found["total"] = results.count()
    return found


# --- cycles -----------------------------------------------------------------------------------


def _require_cycles_page(user) -> None:
    if not may_see_cycles_page(user):
        raise PermissionDenied


def visible_cycle(user, cycle_id) -> Cycle:
    cycle = cycles_visible_to(user).select_related("template").filter(public_id=cycle_id).first()
    if cycle is None:
        raise Http404
    return cycle


@login_required
def cycle_list(request):
    _require_cycles_page(request.user)
    cycles = cycles_visible_to(request.user).select_related("template")
    page = Paginator(cycles.order_by("-period_start", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "querystring": "", "may_create": bool(_units_for_cycles(request))}
    return render(request, "front/reviews/cycle_list.html", context)


def _units_for_cycles(request):
    return units_visible_to(request.user) if may_edit_templates(request.user) else []


class CycleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    period = forms.CharField(
        label=gettext_lazy("Period"), max_length=10, help_text="2026-Q1, 2026-01, 2026-H1, 2026"
    )
    template = forms.ModelChoiceField(label=gettext_lazy("Template"), queryset=Template.objects)
    org_units = forms.ModelMultipleChoiceField(label=gettext_lazy("Org units"), queryset=None)
    positions = forms.CharField(
        label=gettext_lazy("Only these positions (one per line; empty: all)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    scoring_deadline = forms.DateField(label=gettext_lazy("Scoring deadline"), required=False)
    signing_days = forms.IntegerField(
        label=gettext_lazy("Working days to sign after publication"),
        min_value=1,
        max_value=60,
        initial=5,
    )
    managers_may_publish = forms.BooleanField(
        label=gettext_lazy("Managers may publish their team's results"), required=False
    )

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_units"].queryset = units
        self.fields["template"].queryset = Template.objects.order_by("name", "-created_at")

    def clean_period(self):
        try:
            return Period.parse(self.cleaned_data["period"])
        except PeriodError:
            raise forms.ValidationError(_("Use a period such as 2026-Q1.")) from None


@login_required
def cycle_new(request):
    units = _units_for_cycles(request)
    if not units:
        raise PermissionDenied
    form = CycleForm(request.POST or None, units=units)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            cycle = actions.do_create_cycle(
                request.user, name=data["name"], period=data["period"],
                template=data["template"], org_units=data["org_units"],
                positions=data["positions"].splitlines(),
                scoring_deadline=data["scoring_deadline"], signing_days=data["signing_days"],
                managers_may_publish=data["managers_may_publish"],
            )  # fmt: skip
        except FieldErrors as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            return redirect("front:cycle_detail", cycle.public_id)
    return render(request, "front/reviews/cycle_form.html", {"form": form})


def _results_shown(user, cycle: Cycle):
    return results_visible_to(user).filter(cycle=cycle)


@login_required
def cycle_detail(request, cycle_id):
    cycle = visible_cycle(request.user, cycle_id)
    results = _results_shown(request.user, cycle)
    counts = progress(results)
    status = request.GET.get("status", "")
    rows = results.select_related("employee", "org_unit", "document")
    if status in PROGRESS_LABELS:
        rows = rows.filter(_progress_filters(clock.now())[status])
    page = Paginator(rows.order_by("employee__employee_no"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "cycle": cycle,
        "counts": counts,
        "tiles": [(key, PROGRESS_LABELS[key], counts[key]) for key in PROGRESS_LABELS],
        "status": status,
        "page": page,
        "querystring": f"status={status}" if status in PROGRESS_LABELS else "",
        "manages": may_manage_cycle(request.user, cycle),
        "job_running": jobs.busy(cycle),
        "job_label": jobs.STEP_LABELS.get(cycle.job, ""),
        "publishable": _publishable_count(request.user, cycle),
        "items": list(cycle.template.items.select_related("metric")),
    }
    template = "front/reviews/result_rows.html" if request.htmx else "front/reviews/cycle.html"
    return render(request, template, context)


def _publishable_count(user, cycle: Cycle) -> int:
    rows = actions.publishable_by(user, cycle)
    return rows.filter(state__in=UNPUBLISHED, total__isnull=False).count()


STEPS = {
    "standard": (actions.do_publish_standard, gettext_lazy("The standard was published.")),
    "scoring": (actions.do_start_scoring, gettext_lazy("Scoring has started.")),
    "fill": (actions.do_fill_from_attainment, gettext_lazy("The figures were refreshed.")),
    "close": (actions.do_close_cycle, gettext_lazy("The cycle is closed.")),
}


def _run(request, cycle: Cycle, name: str, done) -> None:
    """Runs the step now, or for a large cycle hands it to the task worker."""
    try:
        if jobs.busy(cycle):
            raise ActionError(_("Another step of this cycle is still running; try again later."))
        if jobs.in_background(cycle):
            # Refusals the worker would meet are given now, before the cycle is claimed.
            if name == "publish":
                jobs.check_publishable(request.user, cycle)
            elif not may_manage_cycle(request.user, cycle):
                raise ActionError(_("Only HR of the cycle's units runs its steps."))
            jobs.start(request.user, cycle, name)
        else:  # in one transaction
            step = STEPS[name][0] if name in STEPS else actions.do_publish_results
            outcome = step(request.user, cycle)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        if jobs.in_background(cycle):
            messages.info(
                request,
                _("This runs in the background; your inbox will tell you when it is done."),
            )
        elif name == "publish":
            messages.success(request, _("%(count)s results published.") % {"count": outcome})
        else:
            messages.success(request, str(done))


def _cycle_step(name: str):
    @login_required
    @require_POST
    def view(request, cycle_id):
        cycle = visible_cycle(request.user, cycle_id)
        _run(request, cycle, name, STEPS[name][1])
        return redirect("front:cycle_detail", cycle.public_id)

    view.__name__ = f"cycle_{name}"
    return view


cycle_publish_standard = _cycle_step("standard")
cycle_start_scoring = _cycle_step("scoring")
cycle_fill = _cycle_step("fill")
cycle_close = _cycle_step("close")


@login_required
@require_POST
def cycle_publish(request, cycle_id):
    """Publishes every complete result the user may publish."""
    cycle = visible_cycle(request.user, cycle_id)
    _run(request, cycle, "publish", "")
    return redirect("front:cycle_detail", cycle.public_id)


@login_required
@require_POST
def cycle_settings(request, cycle_id):
    cycle = visible_cycle(request.user, cycle_id)
    allowed = request.POST.get("managers_may_publish") == "on"
    try:
        actions.do_set_managers_may_publish(request.user, cycle, allowed)
    except ActionError as exc:
        messages.error(request, str(exc))
    return redirect("front:cycle_detail", cycle.public_id)


# --- one result -------------------------------------------------------------------------------


def visible_result(user, cycle_id, result_id):
    rows = results_visible_to(user).select_related(
        "cycle__template", "employee", "org_unit", "document"
    )
    result = rows.filter(public_id=result_id, cycle__public_id=cycle_id).first()
    if result is None:
        raise Http404
    return result


@login_required
def result_detail(request, cycle_id, result_id):
    result = visible_result(request.user, cycle_id, result_id)
    items = list(result.items.select_related("item", "item__metric"))
    editable = result.cycle.state in ("scoring", "results_published")
    led = results_led_by(request.user).filter(pk=result.pk).exists()
    context = {
        "result": result,
        "cycle": result.cycle,
        "items": items,
        "versions": result.versions.select_related("changed_by"),
        "may_score": editable and led and result.state == ResultState.DRAFT,
        "may_adjust": editable and results_managed_by(request.user).filter(pk=result.pk).exists(),
        "may_publish": editable
        and result.state in UNPUBLISHED
        and result.total is not None
        and actions.may_publish(request.user, result),
        "document_url": f"/documents/{result.document.public_id}/" if result.document else "",
        "qualitative": ItemKind.QUALITATIVE,
    }
    return render(request, "front/reviews/result.html", context)


def _result_step(request, cycle_id, result_id, step, done: str):
    result = visible_result(request.user, cycle_id, result_id)
    try:
        step(result)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("front:result_detail", result.cycle.public_id, result.public_id)


@login_required
@require_POST
def result_score(request, cycle_id, result_id):
    post = request.POST
    return _result_step(
        request, cycle_id, result_id,
        lambda r: actions.do_score_item(request.user, r, _item_id(post), post.get("score", ""),
                                        post.get("comment", "")),
        _("The score was saved."),
    )  # fmt: skip


@login_required
@require_POST
def result_adjust(request, cycle_id, result_id):
    post = request.POST
    return _result_step(
        request, cycle_id, result_id,
        lambda r: actions.do_adjust_item(request.user, r, _item_id(post), post.get("score", ""),
                                         post.get("reason", "")),
        _("The adjustment was saved."),
    )  # fmt: skip


@login_required
@require_POST
def result_publish(request, cycle_id, result_id):
    return _result_step(
        request, cycle_id, result_id,
        lambda r: actions.do_publish_results(request.user, r.cycle, [r]),
        _("The result was published."),
    )  # fmt: skip


def _item_id(post) -> int:
    raw = post.get("item", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ActionError(_("This result has no such item."))
    return int(raw)


# --- templates --------------------------------------------------------------------------------


def _require_template_editor(user) -> None:
    if not may_edit_templates(user):
        raise PermissionDenied


@login_required
def template_list(request):
    _require_template_editor(request.user)
    templates = templates_visible_to(request.user).annotate(
        item_count=Count("items", distinct=True), cycle_count=Count("cycles", distinct=True)
    )
    return render(request, "front/reviews/template_list.html", {"templates": templates})


def _template_rows(post) -> tuple[list[tuple[str, str]], list[actions.ItemInput]]:
    scale = [(post.get(f"grade-{n}", ""), post.get(f"min-{n}", "")) for n in range(SCALE_ROWS)]
    metrics = {str(m.pk): m for m in Metric.objects.filter(active=True)}
    items = []
    for n in range(ITEM_ROWS):
        name = post.get(f"item-{n}-name", "").strip()
        if not name:
            continue
        metric = metrics.get(post.get(f"item-{n}-metric", ""))
        kind = ItemKind.QUANTITATIVE if metric is not None else ItemKind.QUALITATIVE
        weight = post.get(f"item-{n}-weight", "")
        items.append(actions.ItemInput(name, kind, weight, metric))
    return scale, items


def _template_form(template: Template | None, post=None) -> dict:
    """What the editor's fields hold: the posted values, else the template's."""
    if post is not None:
        scale = [(post.get(f"grade-{n}", ""), post.get(f"min-{n}", "")) for n in range(SCALE_ROWS)]
        items = [(post.get(f"item-{n}-name", ""), post.get(f"item-{n}-metric", ""),
                  post.get(f"item-{n}-weight", "")) for n in range(ITEM_ROWS)]  # fmt: skip
        return {"name": post.get("name", ""), "cap": post.get("cap_percent", ""),
                "scale": scale, "items": items}  # fmt: skip
    scale = [(b["grade"], b["min"] or "") for b in (template.scale if template else [])]
    rows = template.items.all() if template else []
    items = [(i.name, str(i.metric_id or ""), str(i.weight)) for i in rows]
    return {
        "name": template.name if template else "",
        "cap": str(template.cap_percent if template else 120),
        "scale": (scale + [("", "")] * SCALE_ROWS)[:SCALE_ROWS],
        "items": (items + [("", "", "")] * ITEM_ROWS)[:ITEM_ROWS],
    }


@login_required
def template_edit(request, template_id=None):
    _require_template_editor(request.user)
    template = None
    if template_id is not None:
        template = Template.objects.filter(public_id=template_id).first()
        if template is None:
            raise Http404
    errors = {}
    if request.method == "POST":
        scale, items = _template_rows(request.POST)
        cap = request.POST.get("cap_percent", "")
        cap = int(cap) if cap.isascii() and cap.isdigit() and len(cap) < 5 else 0
        try:
            saved = actions.do_save_template(
                request.user, name=request.POST.get("name", ""), scale=scale, items=items,
                cap_percent=cap, template=template,
            )  # fmt: skip
        except FieldErrors as exc:
            errors = exc.errors
        except ActionError as exc:
            errors = {"": str(exc)}
        else:
            messages.success(request, _("The template was saved."))
            return redirect("front:template_edit", saved.public_id)
    context = {
        "template": template,
        "values": _template_form(template, request.POST if request.method == "POST" else None),
        "errors": errors,
        "metrics": Metric.objects.filter(active=True).order_by("code"),
    }
    return render(request, "front/reviews/template_form.html", context)
