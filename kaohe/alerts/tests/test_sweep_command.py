"""`kaohe sweep [--as-of DATE] [--rule CODE ...] [--dry-run]` over the reference story: Amy
sells 50,000 and 70,000 of her 100,000 monthly target in January and February 2026."""

import os
import subprocess
import sys
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from kaohe.alerts.actions import do_save_rule
from kaohe.alerts.models import Alert, Kind, Level
from kaohe.alerts.tests.story import amy_below_target, at
from kaohe.ledger.models import Entry

pytestmark = pytest.mark.django_db


def save_rule(cast, code: str, kind: str, params: dict):
    data = {
        "code": code, "name": code, "kind": kind, "params": params, "level": Level.LEVEL1,
        "recipients": {"hr": True, "managers": 1}, "channels": ["inbox"],
    }  # fmt: skip
    with time_machine.travel(at("2026-01-02T09:00:00"), tick=False):
        return do_save_rule(cast.ada, None, data)


@pytest.fixture
def story(cast):
    amy_below_target(cast)
    save_rule(cast, "below-80-2m", Kind.ATTAINMENT, {"metric": "", "threshold": "80"})
    save_rule(cast, "pip-10d", Kind.PIP_OVERDUE, {"days": 10, "day_kind": "calendar"})
    return cast


def sweep(*args) -> str:
    out = StringIO()
    with time_machine.travel(at("2026-05-06T10:00:00"), tick=False):
        call_command("sweep", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_replays_the_end_of_a_past_day_and_a_rerun_changes_nothing(story):
    assert "1 raised, 0 resolved, 0 escalated (2 rules swept as of" in sweep(
        "--as-of", "2026-03-31"
    )
    alert = Alert.objects.get()
    assert (alert.subject, alert.period) == ("E0003", "2026-02")
    assert alert.raised_at == at("2026-03-31T23:59:59.999999")
    assert sweep("--as-of", "2026-03-31").startswith("0 raised, 0 resolved")


def test_a_later_day_resolves_what_no_longer_holds(story):
    sweep("--as-of", "2026-04-30")  # February and March: below
    # March and April: April has no agreement, so no longer two months below.
    assert "0 raised, 1 resolved" in sweep("--as-of", "2026-05-05")


def test_a_dry_run_counts_and_keeps_nothing(story):
    entries = Entry.objects.count()
    out = sweep("--as-of", "2026-03-31", "--dry-run")
    assert "Dry run" in out and "1 raised" in out
    assert not Alert.objects.exists() and Entry.objects.count() == entries


def test_rule_limits_the_sweep_to_the_rules_named(story):
    assert "(1 rules swept" in sweep("--rule", "pip-10d", "--as-of", "2026-03-31")
    assert not Alert.objects.exists()
    assert "1 raised" in sweep(
        "--rule", "pip-10d", "--rule", "below-80-2m", "--as-of", "2026-03-31"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2026-02-30"], "not a date"),
        (["--as-of", "yesterday"], "not a date"),
        (["--as-of", "2026-05-07"], "future"),
        (["--rule", "nope", "--rule", "below-80-2m"], "No such rule: nope"),
    ],
)
def test_bad_input_is_a_clear_error(story, args, message):
    with pytest.raises(CommandError, match=message):
        sweep(*args)
    assert not Alert.objects.exists()


def test_a_rule_not_active_that_day_is_refused(story):
    from kaohe.alerts.models import Rule

    Rule.objects.filter(code="pip-10d").update(active=False)
    with pytest.raises(CommandError, match="pip-10d"):
        sweep("--rule", "pip-10d")


def test_a_bad_date_exits_non_zero_without_a_traceback(tmp_path):
    env = {**os.environ, "KAOHE_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "kaohe", "sweep", "--as-of", "31.03.2026"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "not a date" in done.stderr and "Traceback" not in done.stderr
