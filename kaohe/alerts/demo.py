"""The demo company's warning rules: the reference story's three, saved by the HR admin
through the same action as the rules page, then one sweep so the demo shows alerts."""

from kaohe.alerts.actions import do_save_rule
from kaohe.alerts.models import Kind, Level, Rule
from kaohe.alerts.sweep import SweepResult, sweep
from kaohe.alerts.tasks import deliver_task

RULES = (
    {
        "code": "below-80-2m",
        "name": "连续两个月未达成目标80%",
        "kind": Kind.ATTAINMENT,
        "params": {"metric": "", "threshold": "80", "periods": 2, "period_kind": "month"},
        "level": Level.LEVEL1,
        "recipients": {"hr": True, "managers": 1},
    },
    {
        "code": "agreement-unconfirmed-3wd",
        "name": "目标责任书3个工作日未确认",
        "kind": Kind.UNCONFIRMED,
        "params": {"days": 3, "day_kind": "working"},
        "level": Level.REMINDER,
        "recipients": {"employee": True, "managers": 1},
    },
    {
        "code": "pip-overdue-10d",
        "name": "改进计划任务逾期10天",
        "kind": Kind.PIP_OVERDUE,
        "params": {"days": 10, "day_kind": "calendar"},
        "level": Level.LEVEL2,
        "recipients": {"hr": True, "managers": 2},
    },
)


def load_rules(admin) -> int:
    """Saves the rules the company lacks; returns how many."""
    made = 0
    for rule in RULES:
        if not Rule.objects.filter(code=rule["code"]).exists():
            do_save_rule(admin, None, {**rule, "channels": ["inbox"], "active": True})
            made += 1
    return made


def sweep_and_tell() -> SweepResult:
    """One sweep now, its alerts delivered right away (no worker need run for the demo)."""
    result = sweep(deliver=False)
    if result.raised:
        deliver_task.call(result.raised)
    return result
