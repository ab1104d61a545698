"""A result's versions: the snapshot each records, the field-level diff between two, and
writing a version after an edit."""

from kaohe.lib import clock
from kaohe.org.evidence import actor_label
from kaohe.reviews import scoring
from kaohe.reviews.models import Result, ResultItem, ResultState, ResultVersion


def snapshot(result: Result, items: list[ResultItem]) -> dict:
    """The result as a version records it (strings only, for the ledger)."""
    return {
        "total": scoring.text(result.total),
        "grade": result.grade,
        "items": [
            {"item": str(row.item_id), "name": row.item.name,
             "target": scoring.text(row.target, 4), "actual": scoring.text(row.actual, 4),
             "attainment": scoring.text(row.attainment), "score": scoring.text(row.score),
             "comment": row.comment, "adjusted_reason": row.adjusted_reason}
            for row in items
        ],
    }  # fmt: skip


def diff(before: dict, after: dict) -> list[dict]:
    """What changed between two snapshots, field by field."""
    changes = [
        {"item": "", "field": name, "before": before[name], "after": after[name]}
        for name in ("total", "grade")
        if before[name] != after[name]
    ]
    old = {i["item"]: i for i in before["items"]}
    for item in after["items"]:
        previous = old.get(item["item"], {})
        for name, value in item.items():
            if name not in ("item", "name") and previous.get(name, "") != value:
                changes.append({"item": item["name"], "field": name,
                                "before": previous.get(name, ""), "after": value})  # fmt: skip
    return changes


def new_version(actor, result, items, before: dict, change: str, reason: str) -> tuple | None:
    """Recomputes total and grade, and writes a version when anything changed; returns the
    ledger item to append (or None when nothing changed)."""
    result.total = scoring.total((row.item.weight, row.score) for row in items)
    result.grade = scoring.grade(result.total, result.cycle.template.scale)
    after = snapshot(result, items)
    changes = diff(before, after)
    if not changes:
        return None
    result.version += 1
    if result.state == ResultState.PUBLISHED:
        result.state = ResultState.CHANGED
    result.save(update_fields=["total", "grade", "version", "state"])
    ResultVersion.objects.create(
        result=result, number=result.version, change=change, reason=reason,
        changed_by=actor if getattr(actor, "pk", None) else None, changed_at=clock.now(),
        diff=changes, snapshot=after,
    )  # fmt: skip
    payload = {"version": result.version, "change": change, "reason": reason, "diff": changes}
    subject = {"employee": result.employee.employee_no, "cycle": str(result.cycle.public_id),
               "result": str(result.public_id)}  # fmt: skip
    return ("result.edited", subject, actor_label(actor), payload)
