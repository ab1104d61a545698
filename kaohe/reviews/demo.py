"""The demo company's assessments: the reference story's quarterly cycles.

The last complete quarter (Q1 2026 when the demo is loaded in Q2 2026) is assessed end to
end: the standard disclosed (late, and recorded so), results filled from attainment, the
sales VP's qualitative scores, published; the regional director (login `director`), who
closed no deal, registers a passkey and signs his result, so a real signature, sealed
letter, receipt and ledger entries exist. The current quarter's cycle is open: its standard
disclosed before scoring. Everything goes through the actions; loading twice adds nothing.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings

from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics import demo as metrics_demo
from kaohe.metrics.models import Metric
from kaohe.org.actions import company_today
from kaohe.org.models import Employee, OrgUnit
from kaohe.reviews.actions import (
    ItemInput,
    do_create_cycle,
    do_publish_results,
    do_publish_standard,
    do_save_template,
    do_score_item,
    do_start_scoring,
)
from kaohe.reviews.documents import period_label
from kaohe.reviews.models import Cycle, CycleState, ItemKind, Result, Template
from kaohe.signing.actions import (
    do_begin_registration,
    do_begin_signing,
    do_finish_registration,
    do_mark_opened,
    do_mark_read,
    do_sign,
)
from kaohe.signing.agreements import issue_pending
from kaohe.signing.models import Document, DocumentKind, DocumentState, Method
from kaohe.signing.tasks import finish_signature
from kaohe.signing.testing import SoftAuthenticator

TEMPLATE_NAME = "销售岗位季度绩效考核"
SCALE = [("S", "95"), ("A", "85"), ("B", "70"), ("C", "60"), ("D", "")]
REGIONS = ("EAST", "SOUTH", "NORTH")
SCORER = "vp"  # the sales VP: every sales person is in his reporting subtree
STORY_COMMENT = "本季度未签约任何订单，客户拜访和商机推进明显不足，需制定改进计划。"
COMMENTS = {
    60: "工作态度尚可，团队协作有待加强。",
    75: "工作认真，能配合团队完成任务。",
    85: "积极主动，团队协作良好。",
    92: "表现突出，主动分享经验，带动团队。",
}


@dataclass
class Loaded:
    cycles: int = 0
    published: int = 0
    signed: bool = False


def _user(username: str):
    employee = Employee.objects.filter(user__username=username).select_related("user").first()
    return employee.user if employee is not None else None


def load() -> Loaded:
    """The template and the two cycles, then the director's signature; what exists stays."""
    admin, director, scorer = metrics_demo.hr_admin(), _user("director"), _user(SCORER)
    units = list(OrgUnit.objects.filter(code__in=REGIONS))
    if admin is None or director is None or scorer is None or not units:
        return Loaded()
    if len(metrics_demo.sales_people()) > metrics_demo.MAX_SALES_PEOPLE:
        return Loaded()  # a large synthetic company: no targets, so nothing to assess
    loaded = Loaded()
    issue_pending(limit=1000)  # the target agreements, put before the employees to sign
    template = _template(admin)
    current = Period.containing(PeriodKind.QUARTER, company_today())
    previous = _cycle(admin, template, units, current.previous(), loaded)
    _cycle(admin, template, units, current, loaded)
    if previous.state == CycleState.SCORING:
        _score(scorer, previous)
        # Without last year's agreements (a demo loaded in a first quarter) some results
        # have no figures: those stay for HR to adjust.
        complete = list(previous.results.filter(total__isnull=False, document__isnull=True))
        if complete:
            loaded.published = do_publish_results(admin, previous, complete)
    loaded.signed = _sign(director, previous)
    return loaded


def _template(admin) -> Template:
    found = Template.objects.filter(name=TEMPLATE_NAME).order_by("created_at").first()
    if found is not None:
        return found
    metrics = {m.code: m for m in Metric.objects.filter(code__in=metrics_demo.METRICS)}
    items = [
        ItemInput("销售额", ItemKind.QUANTITATIVE, "40", metrics["sales_amount"]),
        ItemInput("回款金额", ItemKind.QUANTITATIVE, "25", metrics["payment_collected"]),
        ItemInput("新增客户数", ItemKind.QUANTITATIVE, "15", metrics["new_customers"]),
        ItemInput("工作态度与团队协作", ItemKind.QUALITATIVE, "20"),
    ]
    return do_save_template(admin, name=TEMPLATE_NAME, scale=SCALE, items=items)


def _cycle(admin, template, units, period: Period, loaded: Loaded) -> Cycle:
    name = f"{period_label(period)}销售岗位绩效考核"
    found = Cycle.objects.filter(name=name).first()
    if found is not None:
        return found
    positions = sorted({e.position for e, _role in metrics_demo.sales_people()})
    with transaction.atomic():
        cycle = do_create_cycle(
            admin, name=name, period=period, template=template, org_units=units,
            positions=positions, signing_days=3,
        )  # fmt: skip
        do_publish_standard(admin, cycle)
        do_start_scoring(admin, cycle)
    loaded.cycles += 1
    cycle.refresh_from_db()
    return cycle


def _score(scorer, cycle: Cycle) -> None:
    """The VP scores the qualitative item: the director low, the others by their figures."""
    item = cycle.template.items.get(kind=ItemKind.QUALITATIVE)
    rows = cycle.results.filter(total__isnull=True).select_related("employee__user")
    for result in rows:
        story = result.employee.user is not None and result.employee.user.username == "director"
        score = 60 if story else _score_for(result)
        comment = STORY_COMMENT if story else COMMENTS[score]
        do_score_item(scorer, result, item.pk, str(score), comment)


def _score_for(result: Result) -> int:
    quantitative = [row.score for row in result.items.all() if row.score is not None]
    average = sum(quantitative) / len(quantitative) if quantitative else 0
    return 92 if average >= 100 else 85 if average >= 85 else 75 if average >= 60 else 60


def _sign(director, cycle: Cycle) -> bool:
    """The director registers a passkey, signs his target agreements, then opens, reads
    and signs his result."""
    result = cycle.results.filter(employee__user=director).select_related("document").first()
    if result is None or result.document is None:
        return False
    document = result.document
    if document.state != DocumentState.PENDING:
        return False
    key = SoftAuthenticator(origin=settings.KAOHE_WEBAUTHN_ORIGINS[0])
    ceremony, options = do_begin_registration(director)
    do_finish_registration(director, ceremony.public_id, key.create(options), "演示手机")
    agreements = Document.objects.filter(
        employee=document.employee, kind=DocumentKind.AGREEMENT, state=DocumentState.PENDING
    )
    for agreement in [*agreements.order_by("issued_at", "pk"), document]:
        do_mark_opened(director, agreement)
        do_mark_read(director, agreement)
        ceremony, options = do_begin_signing(director, agreement, Method.PASSKEY)
        signature = do_sign(director, agreement, ceremony.public_id, assertion=key.get(options))
        # The letter and receipt now, not by the worker; the receipt's e-mail to a demo
        # address is not sent (development prints e-mail on the console).
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            finish_signature.call(signature.pk)
    return True
