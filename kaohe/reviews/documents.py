"""The "kaohe-document/v1" data of the standard and the result put before each employee.

The documents are written in Chinese whatever the reader's interface language: they are
the company's formal notices (考核标准公示, 考核结果) and the evidence a Chinese court reads,
so their wording is fixed here rather than translated.
"""

from decimal import Decimal

from kaohe.lib.periods import Period
from kaohe.org.models import Company
from kaohe.reviews.models import Cycle, ItemKind, Result, ResultItem, Template
from kaohe.reviews.scoring import scale_rows, text
from kaohe.signing.content import document_head

STANDARD_STATEMENT = (
    "确认即表示您已收到并阅读本考核标准的全部内容，知悉本考核周期将按上述项目、权重和等级标准"
    "对您进行考核。"
)
RESULT_STATEMENT = (
    "确认即表示您已收到并阅读本考核结果的全部内容。如有异议，请选择“提出异议”并说明理由，"
    "人力资源部将予以答复。"
)


def period_label(period: Period) -> str:
    """ "2026年第一季度", "2026年3月", "2026年上半年", "2026年度"."""
    return period.chinese_label


def standard_title(cycle: Cycle) -> str:
    return f"{period_label(cycle.period)}绩效考核标准"


def result_title(cycle: Cycle) -> str:
    return f"{period_label(cycle.period)}绩效考核结果"


def _base(kind: str, title: str, result: Result, company: str) -> dict:
    return document_head(
        kind, title, result.employee, result.cycle.period, company=company,
        org_unit=result.org_unit.name, position=result.position,
    )  # fmt: skip


def _item_rows(template: Template, items) -> list[list[str]]:
    rows = []
    for item in items:
        if item.kind == ItemKind.QUANTITATIVE:
            kind, basis = "定量", f"{item.metric.name_zh}达成率"
        else:
            kind, basis = "定性", "主管评分（0-100分）"
        rows.append([item.name, kind, basis, text(item.weight)])
    return rows


def standard_data(result: Result, items, company: str | None = None) -> dict:
    """The standard (考核标准) as disclosed to the employee of `result` before scoring."""
    cycle = result.cycle
    template = cycle.template
    company = company if company is not None else Company.get().name
    data = _base("standard", standard_title(cycle), result, company)
    data["sections"] = [
        {"heading": "考核周期", "fields": [["考核周期", period_label(cycle.period)],
                                           ["考核方案", cycle.name], ["考核模板", template.name]]},
        {"heading": "考核项目", "table": {"columns": ["项目", "类型", "计分依据", "权重"],
                                          "rows": _item_rows(template, items)}},
        {"heading": "计分规则", "paragraphs": [
            "定量项目得分为指标达成率（实际/目标×100），最高"
            f"{template.cap_percent}分，最低0分；定性项目由直接主管评分（0-100分）并附评语。",
            "总分为各项目得分乘以权重之和除以100。",
        ]},
        {"heading": "等级标准", "table": {"columns": ["等级", "总分"],
                                          "rows": scale_rows(template.scale)}},
    ]  # fmt: skip
    data["statement"] = STANDARD_STATEMENT
    data["source"] = {"type": "reviews.standard", "id": str(result.public_id), "version": "1"}
    return data


def _figure(value: Decimal | None, places: int) -> str:
    if value is None:
        return "—"
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{text(value, 1)}%"


def result_data(result: Result, items: list[ResultItem], company: str | None = None) -> dict:
    """The result (考核结果) as published: summary, quantitative table, qualitative scores
    with comments, HR's adjustments, and the grading scale."""
    cycle = result.cycle
    company = company if company is not None else Company.get().name
    data = _base("result", result_title(cycle), result, company)
    sections = [
        {"heading": "考核结果", "fields": [["总分", text(result.total)], ["等级", result.grade]]}
    ]
    quantitative = [i for i in items if i.item.kind == ItemKind.QUANTITATIVE]
    if quantitative:
        sections.append({"heading": "定量指标", "table": {
            "columns": ["指标", "目标", "实际", "达成率", "权重", "得分"],
            "rows": [_quantitative_row(i) for i in quantitative]}})  # fmt: skip
    qualitative = [i for i in items if i.item.kind == ItemKind.QUALITATIVE]
    if qualitative:
        sections.append({"heading": "定性评价", "table": {
            "columns": ["项目", "权重", "得分", "评语"],
            "rows": [[i.item.name, text(i.item.weight), text(i.score), i.comment or "—"]
                     for i in qualitative]}})  # fmt: skip
    adjusted = [i for i in items if i.adjusted_reason]
    if adjusted:
        sections.append({"heading": "人力资源部调整说明", "paragraphs": [
            f"{i.item.name}：{i.adjusted_reason}" for i in adjusted]})  # fmt: skip
    sections.append({"heading": "等级标准", "table": {
        "columns": ["等级", "总分"], "rows": scale_rows(cycle.template.scale)}})  # fmt: skip
    data["sections"] = sections
    data["statement"] = RESULT_STATEMENT
    data["source"] = {
        "type": "reviews.result",
        "id": str(result.public_id),
        "version": str(result.version),
    }
    return data


def _quantitative_row(row: ResultItem) -> list[str]:
    places = row.item.metric.decimal_places
    return [
        row.item.name,
        _figure(row.target, places),
        _figure(row.actual, places),
        _percent(row.attainment),
        text(row.item.weight),
        text(row.score),
    ]
