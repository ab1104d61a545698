"""The steps of a large cycle run in the task worker.

Publishing the standard, refreshing the figures or publishing the results of thousands of
people takes longer than a web request may (gunicorn stops a worker after 30 s), and one
long transaction would hold SQLite's write lock for all of it. From BACKGROUND_FROM
results on, the page claims the cycle for the step with a conditional UPDATE (one step at
a time per cycle) and enqueues `run_step`; results are published in chunks, each its own
transaction. The person who started the step finds the outcome in their inbox, and the
cycle page shows the step while it runs.
"""

import datetime as dt
import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from kaohe.lib import clock
from kaohe.notify.send import Message, notify
from kaohe.org.actions import ActionError
from kaohe.reviews import actions
from kaohe.reviews.models import UNPUBLISHED, Cycle, CycleState

logger = logging.getLogger(__name__)

BACKGROUND_FROM = 300  # results (or people in the population, before there are results)
CHUNK = 500  # results published per transaction
STALE = dt.timedelta(hours=1)  # a claim older than this was lost with its worker

STEP_LABELS = {
    "standard": gettext_lazy("publishing the standard"),
    "scoring": gettext_lazy("starting the scoring"),
    "fill": gettext_lazy("refreshing the figures"),
    "close": gettext_lazy("closing the cycle"),
    "publish": gettext_lazy("publishing the results"),
}


def publish_in_chunks(actor, cycle: Cycle) -> int:
    """Publishes every complete result the actor may publish, CHUNK per transaction."""
    check_publishable(actor, cycle)
    published = 0
    while True:
        chunk = list(_ready(actor, cycle).order_by("pk")[:CHUNK])
        if not chunk:
            return published
        published += actions.do_publish_results(actor, cycle, chunk)


def publish_standard_in_chunks(actor, cycle: Cycle) -> Cycle:
    """Publishes the standard as do_publish_standard does, the documents CHUNK per
    transaction; a run cut short continues where it stopped when started again."""
    with transaction.atomic():
        cycle, template = actions.take_population(actor, cycle)
    waiting = cycle.results.filter(standard_document__isnull=True)
    while True:
        with transaction.atomic():
            chunk = list(waiting.select_related("employee", "org_unit").order_by("pk")[:CHUNK])
            if not chunk:
                break
            actions.issue_standards(actor, cycle, template, chunk)
    with transaction.atomic():
        return actions.standard_published(actor, cycle)


def check_publishable(actor, cycle: Cycle) -> int:
    """How many results the actor would publish; ActionError when none, or when some miss a
    score (the same refusals as publishing in one go)."""
    waiting = actions.publishable_by(actor, cycle).filter(state__in=UNPUBLISHED)
    incomplete = list(
        waiting.filter(total__isnull=True).values_list("employee__employee_no", flat=True)[:10]
    )
    if incomplete:
        raise ActionError(
            _("Some results still miss a score: %(who)s.") % {"who": ", ".join(incomplete)}
        )
    count = waiting.count()
    if not count:
        raise ActionError(_("There is nothing to publish."))
    return count


def _ready(actor, cycle: Cycle):
    return actions.publishable_by(actor, cycle).filter(state__in=UNPUBLISHED, total__isnull=False)


STEPS = {
    "standard": publish_standard_in_chunks,
    "scoring": actions.do_start_scoring,
    "fill": actions.do_fill_from_attainment,
    "close": actions.do_close_cycle,
    "publish": publish_in_chunks,
}


def size(cycle: Cycle) -> int:
    """How many people a step of the cycle concerns."""
    if cycle.state == CycleState.DRAFT:
        return actions.population(cycle).count()
    return cycle.results.count()


def in_background(cycle: Cycle) -> bool:
    return size(cycle) >= BACKGROUND_FROM


def busy(cycle: Cycle) -> bool:
    """Whether a step runs for the cycle; one claimed longer than STALE ago counts as lost
    (its worker was stopped) and may be claimed again."""
    if not cycle.job:
        return False
    return cycle.job_started_at is None or cycle.job_started_at > clock.now() - STALE


def start(actor, cycle: Cycle, step: str) -> None:
    """Claims the cycle for `step` and enqueues it; ActionError while another step runs."""
    now = clock.now()
    free = Q(job="") | Q(job_started_at__lt=now - STALE)
    claimed = Cycle.objects.filter(free, pk=cycle.pk).update(
        job=step, job_started_at=now, job_by=actor, job_error=""
    )
    if not claimed:
        raise ActionError(_("Another step of this cycle is still running; try again later."))
    transaction.on_commit(lambda: run_step.enqueue(step, cycle.pk, actor.pk))


@task()
def run_step(step: str, cycle_id: int, user_id: int) -> str:
    """Runs a claimed step as the user who started it, then frees the cycle and tells them."""
    cycle = Cycle.objects.get(pk=cycle_id)
    actor = get_user_model().objects.get(pk=user_id)
    error = ""
    try:
        STEPS[step](actor, cycle)
    except (ActionError, PermissionDenied) as exc:
        error = str(exc) or _("You may not do this.")
    except Exception:
        logger.exception("cycle %s: step %s failed", cycle_id, step)
        error = _("The step failed unexpectedly; the server log has the details.")
    Cycle.objects.filter(pk=cycle_id, job=step).update(job="", job_error=error)
    label = STEP_LABELS[step]
    if error:
        title = format_lazy(gettext_lazy("{cycle}: {step} failed"), cycle=cycle.name, step=label)
    else:
        title = format_lazy(gettext_lazy("{cycle}: {step} is done"), cycle=cycle.name, step=label)
    url = f"/cycles/{cycle.public_id}/"
    notify([actor], Message("reviews.step", title, error, url, "warning" if error else "info"))
    return error or "done"
