"""Every change to templates, cycles and results goes through here.

A cycle moves draft -> standard published -> scoring -> results published -> closed.
Publishing the standard takes the population (its results), freezes the template and puts
the standard before each employee as a document; scoring fills the quantitative items from
attainment; managers score qualitative items; HR adjusts with a reason; publishing turns
each result into a document to sign. Each edit of a result is a ResultVersion with its
field-level diff, and each step is a ledger entry in the same transaction.
"""

import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from kaohe.ledger.bulk import append_many
from kaohe.ledger.log import append
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib import clock
from kaohe.lib.canonical import canonical
from kaohe.lib.http import current_request
from kaohe.lib.periods import Period, PeriodError
from kaohe.org.actions import ActionError, FieldErrors, company_today
from kaohe.org.evidence import actor_label, record
from kaohe.org.models import (
    Company,
    Employee,
    EmploymentStatus,
    OrgUnit,
    is_hr_admin,
    units_visible_to,
)
from kaohe.org.workdays import company_deadline
from kaohe.reviews import documents, scoring
from kaohe.reviews.checks import ItemInput, check_items, read_decimal, template_content
from kaohe.reviews.figures import figures_for
from kaohe.reviews.models import (
    DEFAULT_CAP,
    EDITABLE_CYCLE_STATES,
    UNPUBLISHED,
    Change,
    Cycle,
    CycleState,
    ItemKind,
    Result,
    ResultItem,
    ResultState,
    Template,
    TemplateItem,
)
from kaohe.reviews.versions import new_version, snapshot
from kaohe.reviews.visibility import (
    may_edit_templates,
    may_manage_cycle,
    results_led_by,
    results_managed_by,
)
from kaohe.signing.content import SigningError, issue_many
from kaohe.signing.models import VOID_STATES, DocumentKind

__all__ = [
    "ActionError",
    "FieldErrors",
    "ItemInput",
    "do_adjust_item",
    "do_close_cycle",
    "do_create_cycle",
    "do_fill_from_attainment",
    "do_publish_results",
    "do_publish_standard",
    "do_save_template",
    "do_score_item",
    "do_set_managers_may_publish",
    "do_start_scoring",
    "may_publish",
]

MAX_REASON = 500
MAX_COMMENT = 2000


# --- templates --------------------------------------------------------------------------------


@transaction.atomic
def do_save_template(
    actor,
    *,
    name: str,
    scale: list[tuple[str, str]],
    items: Sequence[ItemInput],
    cap_percent: int = DEFAULT_CAP,
    template: Template | None = None,
) -> Template:
    """Creates a template, or changes one; a frozen template (its standard was disclosed)
    is never changed, nor is another HR partner's: the edit becomes a new template based on
    it (HR admins change any template that is not frozen)."""
    if not may_edit_templates(actor):
        raise PermissionDenied(_("Only HR may edit assessment templates."))
    name = (name or "").strip()[:200]
    if not name:
        raise FieldErrors({"name": _("Give the template a name.")})
    if not 100 <= int(cap_percent) <= 200:
        raise FieldErrors({"cap_percent": _("The cap must lie between 100 and 200.")})
    try:
        checked_scale = scoring.check_scale(scale)
    except scoring.ScaleError as exc:
        raise FieldErrors({"scale": str(exc)}) from None
    checked = check_items(items)
    if template is not None:
        template = Template.objects.select_for_update().get(pk=template.pk)
    if template is None or template.is_frozen or not _may_change(actor, template):
        template = Template(created_by=actor, created_at=clock.now(), based_on=template)
    template.name, template.scale, template.cap_percent = name, checked_scale, int(cap_percent)
    template.save()
    template.items.all().delete()
    TemplateItem.objects.bulk_create(
        TemplateItem(template=template, position=n, name=i.name, kind=i.kind, metric=i.metric,
                     weight=i.weight, description=i.description)
        for n, i in enumerate(checked)
    )  # fmt: skip
    content = template_content(template)
    record("template.saved", actor, content, template=str(template.public_id))
    return template


def _may_change(actor, template: Template) -> bool:
    return template.created_by_id == actor.pk or is_hr_admin(actor)


# --- cycles -----------------------------------------------------------------------------------


def _require_manager_of(actor, cycle: Cycle) -> None:
    if not may_manage_cycle(actor, cycle):
        raise PermissionDenied(_("You may not run this assessment cycle."))


def _lock(cycle: Cycle) -> Cycle:
    return Cycle.objects.select_for_update(of=("self",)).select_related("template").get(pk=cycle.pk)


def _require_state(cycle: Cycle, *states: str) -> None:
    if cycle.state not in states:
        raise ActionError(
            _("This cycle is %(state)s; that step is not possible now.")
            % {"state": cycle.get_state_display()}
        )


def _cycle_subject(cycle: Cycle) -> dict:
    return {"cycle": str(cycle.public_id)}


@transaction.atomic
def do_create_cycle(
    actor,
    *,
    name: str,
    period: Period | str,
    template: Template,
    org_units: Iterable[OrgUnit],
    positions: Iterable[str] = (),
    scoring_deadline=None,
    signing_days: int = 5,
    managers_may_publish: bool = False,
) -> Cycle:
    """A draft cycle over the employees of `org_units` (and every unit below them),
    optionally only those holding one of `positions`."""
    name = (name or "").strip()[:200]
    errors = {}
    if not name:
        errors["name"] = _("Give the cycle a name.")
    try:
        period = period if isinstance(period, Period) else Period.parse(period)
    except PeriodError:
        errors["period"] = _("Choose a period such as 2026-Q1, 2026-01, 2026-H1 or 2026.")
    units = list(org_units)
    if not units:
        errors["org_units"] = _("Choose at least one org unit.")
    if not 1 <= int(signing_days) <= 60:
        errors["signing_days"] = _("Allow between 1 and 60 working days to sign.")
    if errors:
        raise FieldErrors(errors)
    reach = set(units_visible_to(actor).values_list("pk", flat=True))
    if not units or any(unit.pk not in reach for unit in units):
        raise PermissionDenied(_("You may only assess the org units assigned to you."))
    cycle = Cycle.objects.create(
        name=name, period_kind=str(period.kind), period_start=period.start, template=template,
        positions=sorted({p.strip() for p in positions if p.strip()}),
        scoring_deadline=scoring_deadline, signing_days=int(signing_days),
        managers_may_publish=managers_may_publish, created_by=actor, created_at=clock.now(),
    )  # fmt: skip
    cycle.org_units.set(units)
    payload = {
        "name": cycle.name, "period": period.label, "template": str(template.public_id),
        "org_units": sorted(u.code for u in units), "positions": cycle.positions,
        "signing_days": cycle.signing_days, "managers_may_publish": managers_may_publish,
    }  # fmt: skip
    record("cycle.created", actor, payload, **_cycle_subject(cycle))
    return cycle


@transaction.atomic
def do_set_managers_may_publish(actor, cycle: Cycle, allowed: bool) -> Cycle:
    _require_manager_of(actor, cycle)
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.DRAFT, CycleState.STANDARD_PUBLISHED, *EDITABLE_CYCLE_STATES)
    if cycle.managers_may_publish != allowed:
        cycle.managers_may_publish = allowed
        cycle.save(update_fields=["managers_may_publish"])
        record("cycle.settings_changed", actor, {"managers_may_publish": allowed},
               **_cycle_subject(cycle))  # fmt: skip
    return cycle


def population(cycle: Cycle):
    """Who the cycle assesses: employed, hired before the period ends, in its units (and
    below), holding one of its positions when it names any."""
    condition = Q(pk__in=[])
    for unit in cycle.org_units.all():
        condition |= unit.descendants_q("org_unit__")
    people = Employee.objects.filter(
        condition,
        status__in=EmploymentStatus.employed(),
        hire_date__lt=cycle.period.end,
    )
    if cycle.positions:
        people = people.filter(position__in=cycle.positions)
    return people.select_related("org_unit").order_by("employee_no")


@transaction.atomic
def do_publish_standard(actor, cycle: Cycle) -> Cycle:
    """Takes the population, freezes the template and issues the standard to each employee.
    Publishing on or after the period's first day is allowed but recorded as late. (A large
    cycle runs the same three steps, the documents in chunks: kaohe.reviews.jobs.)"""
    cycle, template = take_population(actor, cycle)
    results = list(cycle.results.select_related("employee", "org_unit").order_by("pk"))
    issue_standards(actor, cycle, template, results)
    return standard_published(actor, cycle)


def take_population(actor, cycle: Cycle) -> tuple[Cycle, Template]:
    """The first step of publishing the standard: the draft cycle's results, one per person
    of its population (kept when a step that was cut short runs again), and the template
    frozen. Call it in a transaction."""
    _require_manager_of(actor, cycle)
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.DRAFT)
    template = Template.objects.select_for_update().get(pk=cycle.template_id)
    if template.frozen_at is None:
        template.frozen_at = clock.now()
        template.save(update_fields=["frozen_at"])
    if not cycle.results.exists():
        people = list(population(cycle))
        if not people:
            raise ActionError(_("Nobody in the chosen units and positions is employed."))
        _create_results(cycle, template, people)
    return cycle, template


def issue_standards(actor, cycle: Cycle, template: Template, results: list[Result]) -> None:
    """Issues the standard to the employees of `results` (those without it yet). Call it in
    a transaction."""
    results = [r for r in results if r.standard_document_id is None]
    if not results:
        return
    company = Company.get().name
    items = list(template.items.select_related("metric"))
    title = documents.standard_title(cycle)
    for result in results:
        result.cycle = cycle
    specs = [
        {"kind": DocumentKind.STANDARD, "employee": r.employee, "title": title,
         "data": documents.standard_data(r, items, company), "source_type": "reviews.standard",
         "source_id": str(r.public_id)}
        for r in results
    ]  # fmt: skip
    for result, document in zip(results, _issue_many(actor, specs), strict=True):
        result.standard_document = document
    Result.objects.bulk_update(results, ["standard_document"], batch_size=1000)


def standard_published(actor, cycle: Cycle) -> Cycle:
    """The last step: once every employee of the cycle has the standard, the cycle says it
    was published, and the ledger records the template and the population. Call it in a
    transaction."""
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.DRAFT)
    if cycle.results.filter(standard_document__isnull=True).exists():
        raise ActionError(_("Some employees have not received the standard yet."))
    template = cycle.template
    cycle.state = CycleState.STANDARD_PUBLISHED
    cycle.standard_published_at = clock.now()
    cycle.standard_late = company_today() >= cycle.period_start
    cycle.save(update_fields=["state", "standard_published_at", "standard_late"])
    content = template_content(template)
    payload = {"template": content, "population": cycle.results.count(),
               "late": cycle.standard_late,
               "template_sha256": hashlib.sha256(canonical(content)).hexdigest()}  # fmt: skip
    record("cycle.standard_published", actor, payload, **_cycle_subject(cycle))
    return cycle


def _create_results(cycle: Cycle, template: Template, people: list[Employee]) -> list[Result]:
    results = Result.objects.bulk_create(
        (Result(cycle=cycle, employee=p, org_unit=p.org_unit, position=p.position) for p in people),
        batch_size=1000,
    )
    if not all(r.pk for r in results):  # a backend that does not return ids
        results = list(Result.objects.filter(cycle=cycle).select_related("employee", "org_unit"))
    items = list(template.items.all())
    ResultItem.objects.bulk_create(
        (ResultItem(result=r, item=i) for r in results for i in items), batch_size=2000
    )
    for result in results:
        result.cycle = cycle
    return results


@transaction.atomic
def do_start_scoring(actor, cycle: Cycle) -> Cycle:
    """Opens scoring and fills every quantitative item from attainment."""
    _require_manager_of(actor, cycle)
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.STANDARD_PUBLISHED)
    cycle.state = CycleState.SCORING
    cycle.scoring_started_at = clock.now()
    cycle.save(update_fields=["state", "scoring_started_at"])
    record("cycle.scoring_started", actor, {"period": cycle.period.label}, **_cycle_subject(cycle))
    _fill(actor, cycle, list(cycle.results.filter(state__in=UNPUBLISHED)))
    return cycle


@transaction.atomic
def do_fill_from_attainment(actor, cycle: Cycle) -> int:
    """Refreshes the quantitative items of the unpublished results from today's figures;
    returns how many results changed (each gets a version)."""
    _require_manager_of(actor, cycle)
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.SCORING, CycleState.RESULTS_PUBLISHED)
    return _fill(actor, cycle, list(cycle.results.filter(state=ResultState.DRAFT)))


def _fill(actor, cycle: Cycle, results: list[Result]) -> int:
    template = cycle.template
    quantitative = [i for i in template.items.select_related("metric")
                    if i.kind == ItemKind.QUANTITATIVE]  # fmt: skip
    if not quantitative or not results:
        return 0
    rows = Result.objects.filter(pk__in=[r.pk for r in results]).select_related(
        "employee", "cycle__template"
    )
    results = list(rows.select_for_update(of=("self",)).order_by("pk"))
    figures = figures_for(results, cycle.period, [i.metric for i in quantitative])
    items = _items_of(results)
    entries = []
    for result in results:
        before = snapshot(result, items[result.pk])
        for row in items[result.pk]:
            if row.item.kind != ItemKind.QUANTITATIVE:
                continue
            found = figures[result.pk][row.item.metric_id]
            row.target, row.actual = found.target, found.actual
            row.attainment, row.sources = found.attainment, found.sources
            if not row.adjusted_reason:  # HR's adjustment stands over the figures
                row.score = scoring.item_score(found.attainment, template.cap_percent)
        entry = new_version(actor, result, items[result.pk], before, Change.FILLED, "")
        if entry is not None:
            entries.append(entry)
    changed = [row for result in results for row in items[result.pk]]
    ResultItem.objects.bulk_update(
        changed, ["target", "actual", "attainment", "sources", "score"], batch_size=1000
    )
    _record_many(entries)
    return len(entries)


def _items_of(results: list[Result]) -> dict[int, list[ResultItem]]:
    found: dict[int, list[ResultItem]] = {r.pk: [] for r in results}
    rows = ResultItem.objects.filter(result__in=[r.pk for r in results]).select_related(
        "item", "item__metric"
    )
    for row in rows.order_by("result_id", "item__position", "item_id"):
        found[row.result_id].append(row)
    return found


def _record_many(entries: list[tuple]) -> None:
    """Ledger entries of results: one with the request's IP and user agent (an edit on a
    page), many at once (one lock, a few inserts); a checkpoint soon after, as `record`
    does."""
    if len(entries) == 1:
        kind, subject, actor, payload = entries[0]
        append(kind, subject, actor, payload, request=current_request.get())
    elif entries:
        append_many(entries)
    if entries:
        transaction.on_commit(checkpoint_task.enqueue)


@transaction.atomic
def do_close_cycle(actor, cycle: Cycle) -> Cycle:
    _require_manager_of(actor, cycle)
    cycle = _lock(cycle)
    _require_state(cycle, CycleState.RESULTS_PUBLISHED)
    unpublished = cycle.results.filter(state__in=UNPUBLISHED).count()
    if unpublished:
        raise ActionError(_("Publish every result before closing the cycle."))
    cycle.state = CycleState.CLOSED
    cycle.closed_at = clock.now()
    cycle.save(update_fields=["state", "closed_at"])
    unsigned = cycle.results.exclude(document__state="signed").count()
    record("cycle.closed", actor, {"unsigned": unsigned}, **_cycle_subject(cycle))
    return cycle


# --- one result's edits ------------------------------------------------------------------------


def _lock_result(result: Result) -> tuple[Result, list[ResultItem]]:
    result = (
        Result.objects.select_for_update(of=("self",))
        .select_related("cycle__template", "employee")
        .get(pk=result.pk)
    )
    return result, _items_of([result])[result.pk]


def _row(items: list[ResultItem], item_id: int) -> ResultItem:
    for row in items:
        if row.item_id == int(item_id):
            return row
    raise ActionError(_("This result has no such item."))


def _score(raw) -> Decimal:
    value = read_decimal(raw, "score")
    if not Decimal(0) <= value <= Decimal(200):
        raise FieldErrors({"score": _("Enter a score from 0 to 200.")})
    return scoring.cents(value)


@transaction.atomic
def do_score_item(actor, result: Result, item_id: int, score, comment: str) -> Result:
    """The manager scores a qualitative item (0-100) with a comment, before publication."""
    if not results_led_by(actor).filter(pk=result.pk).exists():
        raise PermissionDenied(_("Only the employee's managers score this result."))
    result, items = _lock_result(result)
    _require_state(result.cycle, CycleState.SCORING, CycleState.RESULTS_PUBLISHED)
    if result.state != ResultState.DRAFT:
        raise ActionError(_("This result is published; HR corrects it with an adjustment."))
    row = _row(items, item_id)
    if row.item.kind != ItemKind.QUALITATIVE:
        raise ActionError(_("Quantitative items are scored from the figures."))
    value = _score(score)
    if value > 100:
        raise FieldErrors({"score": _("Enter a score from 0 to 100.")})
    comment = (comment or "").strip()[:MAX_COMMENT]
    if not comment:
        raise FieldErrors({"comment": _("Explain the score in a comment.")})
    before = snapshot(result, items)
    row.score, row.comment = value, comment
    row.save(update_fields=["score", "comment"])
    _record_many([e for e in [new_version(actor, result, items, before, Change.SCORED, "")] if e])
    return result


@transaction.atomic
def do_adjust_item(actor, result: Result, item_id: int, score, reason: str) -> Result:
    """HR sets an item's score, with the reason shown to the employee; after publication
    the result is then "changed" until published again."""
    if not results_managed_by(actor).filter(pk=result.pk).exists():
        raise PermissionDenied(_("Only HR of the employee's unit adjusts results."))
    result, items = _lock_result(result)
    _require_state(result.cycle, CycleState.SCORING, CycleState.RESULTS_PUBLISHED)
    row = _row(items, item_id)
    value = _score(score)
    reason = (reason or "").strip()[:MAX_REASON]
    if not reason:
        raise FieldErrors({"reason": _("Give the reason for the adjustment.")})
    before = snapshot(result, items)
    row.score, row.adjusted_reason = value, reason
    row.save(update_fields=["score", "adjusted_reason"])
    entry = new_version(actor, result, items, before, Change.ADJUSTED, reason)
    _record_many([entry] if entry else [])
    return result


# --- publishing results -----------------------------------------------------------------------


def may_publish(user, result: Result) -> bool:
    """HR of the employee's unit; their managers too when the cycle allows it."""
    if results_managed_by(user).filter(pk=result.pk).exists():
        return True
    return result.cycle.managers_may_publish and results_led_by(user).filter(pk=result.pk).exists()


def publishable_by(actor, cycle: Cycle):
    """The cycle's results the actor may publish (HR of their units; the team's managers
    when the cycle allows it)."""
    rows = results_managed_by(actor).filter(cycle=cycle)
    if cycle.managers_may_publish:
        rows = rows | results_led_by(actor).filter(cycle=cycle)
    return rows


@transaction.atomic
def do_publish_results(actor, cycle: Cycle, results: Iterable[Result] | None = None) -> int:
    """Publishes the given results (all the actor may publish when None): each becomes a
    result document to sign within the cycle's working days; a corrected one supersedes
    its previous document. Returns how many were published."""
    cycle = _lock(cycle)
    _require_state(cycle, *EDITABLE_CYCLE_STATES)
    allowed = publishable_by(actor, cycle)
    if results is not None:
        wanted = {r.pk for r in results}
        allowed = allowed.filter(pk__in=wanted)
        if allowed.count() != len(wanted):
            raise PermissionDenied(_("You may not publish some of these results."))
    rows = (
        allowed.filter(state__in=UNPUBLISHED)
        .select_related("employee", "org_unit", "document")
        .select_for_update(of=("self",))
    )
    chosen = list(rows.order_by("pk"))
    if not chosen:
        raise ActionError(_("There is nothing to publish."))
    incomplete = [r.employee.employee_no for r in chosen if r.total is None]
    if incomplete:
        raise ActionError(
            _("Some results still miss a score: %(who)s.") % {"who": ", ".join(incomplete[:10])}
        )
    _issue_results(actor, cycle, chosen)
    if not cycle.results.filter(state__in=UNPUBLISHED).exists():
        _mark_results_published(actor, cycle)
    return len(chosen)


def _issue_results(actor, cycle: Cycle, chosen: list[Result]) -> None:
    now = clock.now()
    due_at = company_deadline(now, cycle.signing_days, "working")
    company = Company.get().name
    items = _items_of(chosen)
    for result in chosen:
        result.cycle = cycle
    # A corrected result's document supersedes the one the employee was shown, unless HR
    # withdrew that one already: then the new document simply replaces nothing in force.
    specs = [_result_spec(r, items[r.pk], company, due_at) | {"supersedes": _in_force(r.document)}
             for r in chosen]  # fmt: skip
    for result, document in zip(chosen, _issue_many(actor, specs), strict=True):
        result.document = document
    for result in chosen:
        result.state, result.published_at = ResultState.PUBLISHED, now
        result.published_version = result.version
    Result.objects.bulk_update(
        chosen, ["document", "state", "published_at", "published_version"], batch_size=1000
    )
    _record_many([_published_entry(actor, r) for r in chosen])


def _in_force(document):
    return None if document is None or document.state in VOID_STATES else document


def _issue_many(actor, specs: list[dict]):
    """issue_many, with signing's refusal as this app's (the views show ActionErrors)."""
    if not specs:
        return []
    try:
        return issue_many(actor, specs)
    except SigningError as exc:
        raise ActionError(exc.message) from exc


def _result_spec(result: Result, items, company: str, due_at) -> dict:
    return {
        "kind": DocumentKind.RESULT, "employee": result.employee,
        "title": documents.result_title(result.cycle),
        "data": documents.result_data(result, items, company),
        "source_type": "reviews.result", "source_id": str(result.public_id), "due_at": due_at,
    }  # fmt: skip


def _published_entry(actor, result: Result) -> tuple:
    payload = {"version": result.version, "total": scoring.text(result.total),
               "grade": result.grade, "document": str(result.document.public_id),
               "doc_sha256": result.document.doc_sha256}  # fmt: skip
    subject = {"employee": result.employee.employee_no, "cycle": str(result.cycle.public_id),
               "result": str(result.public_id)}  # fmt: skip
    return ("result.published", subject, actor_label(actor), payload)


def _mark_results_published(actor, cycle: Cycle) -> None:
    if cycle.state == CycleState.RESULTS_PUBLISHED:
        return
    cycle.state = CycleState.RESULTS_PUBLISHED
    cycle.results_published_at = clock.now()
    cycle.save(update_fields=["state", "results_published_at"])
    count = cycle.results.count()
    record("cycle.results_published", actor, {"results": count}, **_cycle_subject(cycle))
