"""Re-evaluation after new facts reads and changes only the alerts of the employees the
batch touched (the sweep reads the rest)."""

import pytest
import time_machine

from kaohe.alerts.models import Alert, Status
from kaohe.alerts.sweep import reevaluate, sweep
from kaohe.alerts.tests.test_sweep import agree, at, below_rule, m, sell  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_new_facts_resolve_or_raise_only_for_the_employees_they_touched(cast, m):  # noqa: F811
    agree(cast, "2026-Q1", "300000")
    agree(cast, "2026-Q1", "300000", employee=cast.olga)
    below_rule(cast)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        assert len(sweep(deliver=False).raised) == 2
    sell(cast.amy, 2, "100000")  # both recover in February
    sell(cast.olga, 2, "100000")
    with time_machine.travel(at("2026-03-03T09:00:00"), tick=False):
        result = reevaluate([cast.amy.pk])
    assert (result.raised, result.resolved) == ([], 1)
    statuses = dict(Alert.objects.values_list("employee__employee_no", "status"))
    assert statuses == {"E0003": Status.RESOLVED, "E0004": Status.RAISED}
    with time_machine.travel(at("2026-03-03T09:00:00"), tick=False):
        assert reevaluate([cast.olga.pk]).resolved == 1
