import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from kaohe.org import actions
from kaohe.org.actions import ActionError, placement_on

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


@time_machine.travel(TODAY, tick=False)
def test_a_manager_change_keeps_who_was_manager_on_each_day(cast):
    actions.do_change_manager(cast.hazel, cast.amy, cast.dora, dt.date(2026, 5, 1))
    assert placement_on(cast.amy, dt.date(2026, 4, 30)).manager == cast.mike
    assert placement_on(cast.amy, dt.date(2026, 5, 1)).manager == cast.dora
    assert placement_on(cast.amy, dt.date(2019, 1, 1)) is None
    cast.amy.refresh_from_db()
    assert cast.amy.manager == cast.dora


@time_machine.travel(TODAY, tick=False)
def test_a_move_records_unit_and_position_with_its_date(cast):
    actions.do_move_employee(cast.ada, cast.amy, cast.south, dt.date(2026, 6, 1), "大客户经理")
    before, after = (
        placement_on(cast.amy, dt.date(2026, 5, 31)),
        placement_on(cast.amy, dt.date(2026, 6, 1)),
    )
    assert (before.org_unit, before.position) == (cast.east_sales, "销售代表")
    assert (after.org_unit, after.position) == (cast.south, "大客户经理")


@time_machine.travel(TODAY, tick=False)
def test_an_hr_partner_cannot_move_someone_into_a_unit_outside_her_scope(cast):
    with pytest.raises(PermissionDenied):
        actions.do_move_employee(cast.hazel, cast.amy, cast.south, dt.date(2026, 6, 1))


@time_machine.travel(TODAY, tick=False)
def test_outsiders_cannot_change_a_manager(cast):
    for actor in (cast.harry, cast.olga.user, cast.mike.user, cast.audrey):
        with pytest.raises(PermissionDenied):
            actions.do_change_manager(actor, cast.amy, cast.dora, dt.date(2026, 5, 1))


@time_machine.travel(TODAY, tick=False)
def test_a_manager_cycle_is_refused(cast):
    with pytest.raises(ActionError, match="循环"):
        actions.do_change_manager(cast.ada, cast.dora, cast.amy, dt.date(2026, 5, 1))
    with pytest.raises(ActionError):
        actions.do_change_manager(cast.ada, cast.amy, cast.amy, dt.date(2026, 5, 1))


@time_machine.travel(TODAY, tick=False)
def test_effective_dates_in_the_future_or_before_the_current_placement_are_refused(cast):
    with pytest.raises(ActionError):
        actions.do_change_manager(cast.ada, cast.amy, cast.dora, dt.date(2026, 7, 1))
    with pytest.raises(ActionError):
        actions.do_change_manager(cast.ada, cast.amy, cast.dora, dt.date(2020, 3, 1))


def test_moving_a_unit_rewrites_the_paths_below_it(cast):
    actions.do_move_org_unit(cast.ada, cast.east, cast.south)
    cast.east_sales.refresh_from_db()
    assert cast.east_sales.path.startswith(cast.south.path)
    with pytest.raises(ActionError):
        actions.do_move_org_unit(cast.ada, cast.south, cast.east_sales)
