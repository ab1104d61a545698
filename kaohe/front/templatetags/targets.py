"""The attainment section of the employee pages: figures, a progress bar, a month-by-month
chart drawn as inline SVG on the server, and the month / quarter / year switch."""

from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kaohe.lib.periods import Period, PeriodError, PeriodKind
from kaohe.metrics.actions import decimal_text
from kaohe.metrics.attainment import Figure, agreement_period, rounded, scorecard
from kaohe.metrics.models import Unit
from kaohe.org.actions import company_today

register = template.Library()

SWITCH_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)
CHART_HEIGHT, BAR_WIDTH, BAR_GAP = 56, 26, 12


def requested_period(request, today) -> Period:
    """The period asked for in ?period=, else the current quarter (a bad label too)."""
    label = request.GET.get("period", "") if request is not None else ""
    try:
        return Period.parse(label) if label else Period.containing(PeriodKind.QUARTER, today)
    except PeriodError:
        return Period.containing(PeriodKind.QUARTER, today)


def attainment_context(request, employee, mine: bool = False) -> dict:
    today = company_today()
    period = requested_period(request, today)
    card = scorecard(employee, period, today)
    url = (
        reverse("front:my_attainment")
        if mine
        else reverse("front:employee_attainment", args=[employee.employee_no])
    )
    return {
        "card": card,
        "employee": employee,
        "mine": mine,
        "url": url,
        "period": period,
        "switch": [(kind, Period.containing(kind, today)) for kind in SWITCH_KINDS],
        "previous": period.previous(),
        "next": period.next(),
        "percent": rounded(card.score, 0),
        "agreement_label": agreement_period(card.agreement).label if card.agreement else "",
        "figures": [_row(figure) for figure in card.figures],
    }


def _row(figure: Figure) -> dict:
    places = figure.metric.decimal_places
    suffix = "%" if figure.metric.unit == Unit.PERCENT else ""
    return {
        "figure": figure,
        "actual": number(figure.actual, places, suffix),
        "target": number(figure.target, places, suffix),
        "attainment": number(figure.attainment, 1, "%"),
        "weight": number(figure.weight, 0, "%") if figure.weight is not None else None,
        "chart": chart(figure) if figure.weight is not None else None,
    }


def number(value: Decimal | None, places: int, suffix: str = "") -> str:
    """12345.678 -> "12,345.68"; None -> "—" (no figure, which is not 0)."""
    if value is None:
        return "—"
    return f"{rounded(value, places):,.{places}f}{suffix}"


@register.filter
def decimal_plain(value) -> str:
    """A stored decimal without trailing zeros: 300000.0000 -> "300000"."""
    return decimal_text(value) if value is not None else "—"


@register.filter
def metric_name(metric) -> str:
    """The metric's name in the reader's language."""
    return metric.name_en if (get_language() or "").startswith("en") else metric.name_zh


def chart(figure: Figure) -> str | None:
    """Inline SVG: the monthly actuals as bars, each month's target as a tick. Built here
    rather than in the template: a year of a dozen metrics is some 150 elements."""
    if not figure.months:
        return None
    values = [v for m in figure.months for v in (m.actual, m.target) if v is not None]
    top = max((abs(v) for v in values), default=Decimal(0)) or Decimal(1)
    parts = []
    for i, month in enumerate(figure.months):
        x = BAR_GAP // 2 + i * (BAR_WIDTH + BAR_GAP)
        height = _scaled(month.actual, top)
        met = " met" if month.attainment is not None and month.attainment >= 100 else ""
        title = f"{month.month.label}: {_plain(month.actual)} / {_plain(month.target)}"
        parts.append(
            f'<g><title>{escape(title)}</title><rect x="{x}" y="{CHART_HEIGHT - height:.1f}" '
            f'width="{BAR_WIDTH}" height="{height:.1f}" class="bar{met}"></rect>'
        )
        if month.target is not None:
            y = CHART_HEIGHT - _scaled(month.target, top)
            parts.append(
                f'<line x1="{x}" x2="{x + BAR_WIDTH}" y1="{y:.1f}" y2="{y:.1f}" class="tick">'
                "</line>"
            )
        parts.append(
            f'<text x="{x + BAR_WIDTH // 2}" y="{CHART_HEIGHT + 12}" text-anchor="middle">'
            f"{month.month.start.month}</text></g>"
        )
    width, height = len(figure.months) * (BAR_WIDTH + BAR_GAP), CHART_HEIGHT + 16
    label = escape(_("Month by month: actual bars, target ticks"))
    return mark_safe(  # noqa: S308 - numbers we computed; the only text is escaped
        f'<svg class="att-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}">{"".join(parts)}</svg>'
    )


def _scaled(value: Decimal | None, top: Decimal) -> float:
    if value is None or value <= 0:
        return 0.0
    return round(float(value / top) * (CHART_HEIGHT - 4), 1)


def _plain(value: Decimal | None) -> str:
    return "—" if value is None else format(rounded(value, 2), "f")


@register.inclusion_tag("front/_attainment.html", takes_context=True)
def attainment_section(context, employee, mine: bool = False) -> dict:
    """{% attainment_section employee %} on the employee pages."""
    return attainment_context(context.get("request"), employee, mine)
