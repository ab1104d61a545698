"""Publishing a whole assessment cycle: KAOHE_BENCH_CYCLE_RESULTS (default 10,000) scored
results become result documents through `do_publish_results` (data, canonical JSON, PDF,
hashes, bulk ledger entries and inserts, and the results' own entries).

A synthetic company of that many people is loaded in bulk; the cycle's results and their
item scores are written in bulk as if scoring were done (filling from attainment and the
standard's documents are not what is measured). The same publication runs twice on two
such cycles: once as it is, and once with the PDF renderer replaced by a stand-in, so the
report shows how much of the time the PDFs take; the renderer alone is timed on one
document. Reported for information: there is no target.
"""

import os
from decimal import Decimal
from pathlib import Path

from benchmarks import Measurement, benchmark, timed

RESULTS = int(os.environ.get("KAOHE_BENCH_CYCLE_RESULTS", 10_000))
SEED = 20260401
RENDER_SAMPLES = 20


@benchmark
def cycle(scratch: Path) -> dict[str, Measurement]:
    from kaohe.lib.periods import Period, PeriodKind
    from kaohe.org.actions import company_today

    admin, template, units = _company()
    # This quarter and the next: everyone hired by today is in both populations.
    quarter = Period.containing(PeriodKind.QUARTER, company_today())
    fake = _scored_cycle(admin, template, units, quarter)
    real = _scored_cycle(admin, template, units, quarter.next())
    without_pdf, _count = _publish_with_fake_pdfs(admin, fake)
    seconds, count = timed(_publish, admin, real)
    render_ms = _render_ms(real)
    label = f"{RESULTS // 1000}k" if RESULTS % 1000 == 0 else str(RESULTS)
    return {
        f"cycle.publish_{label}_s": Measurement(seconds),
        "cycle.results_published": Measurement(count, unit="results"),
        f"cycle.publish_{label}_without_pdf_s": Measurement(without_pdf),
        "cycle.render_pdf_ms": Measurement(render_ms, unit="ms"),
        # What the PDFs add: the two publications differ only in the renderer.
        f"cycle.pdf_share_of_publish_{label}": Measurement(
            (seconds - without_pdf) / seconds, unit="ratio"
        ),
    }


def _company():
    from kaohe.lib import clock
    from kaohe.org import demo
    from kaohe.org.models import OrgUnit, Role
    from kaohe.org.testing import grant, make_user
    from kaohe.reviews.actions import ItemInput, do_save_template
    from kaohe.reviews.models import ItemKind

    demo.load(demo.synthetic_company(RESULTS, SEED))
    admin = make_user("bench-admin")
    grant(admin, Role.HR_ADMIN)
    items = [ItemInput("工作业绩", ItemKind.QUALITATIVE, "70"),
             ItemInput("工作态度", ItemKind.QUALITATIVE, "30")]  # fmt: skip
    scale = [("A", "85"), ("B", "70"), ("C", "60"), ("D", "")]
    template = do_save_template(admin, name="基准模板", scale=scale, items=items)
    template.frozen_at = clock.now()
    template.save(update_fields=["frozen_at"])
    roots = list(OrgUnit.objects.filter(parent__isnull=True))
    return admin, template, roots


def _scored_cycle(admin, template, units, period):
    """A cycle in scoring with every employee's result scored, written in bulk."""
    from kaohe.reviews.actions import do_create_cycle, population
    from kaohe.reviews.models import CycleState, Result, ResultItem

    cycle = do_create_cycle(
        admin, name=f"基准 {period}", period=period, template=template, org_units=units
    )
    cycle.state = CycleState.SCORING
    cycle.save(update_fields=["state"])
    people = list(population(cycle))
    Result.objects.bulk_create(
        (Result(cycle=cycle, employee=p, org_unit=p.org_unit, position=p.position, version=1,
                total=Decimal("75.40"), grade="B") for p in people),
        batch_size=2000,
    )  # fmt: skip
    items = list(template.items.all())
    scores = [Decimal("78.00"), Decimal("68.00")]
    ResultItem.objects.bulk_create(
        (ResultItem(result_id=pk, item=item, score=score, comment="基准评语")
         for pk in cycle.results.values_list("pk", flat=True)
         for item, score in zip(items, scores, strict=True)),
        batch_size=5000,
    )  # fmt: skip
    return cycle


def _publish(admin, cycle) -> int:
    from kaohe.reviews.actions import do_publish_results

    return do_publish_results(admin, cycle)


def _publish_with_fake_pdfs(admin, cycle):
    from kaohe.signing import content
    from kaohe.signing.testing import fake_render

    real = content._render
    content._render = fake_render
    try:
        return timed(_publish, admin, cycle)
    finally:
        content._render = real


def _render_ms(cycle) -> float:
    from kaohe.signing.render import render_document

    data = cycle.results.select_related("document").first().document.data
    render_document(data)  # the font cut is made once per process
    seconds, _ = timed(lambda: [render_document(data) for _ in range(RENDER_SAMPLES)])
    return seconds / RENDER_SAMPLES * 1000
