import pytest
from django.contrib.auth.models import AnonymousUser

from kaohe.org.models import Employee, units_visible_to
from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db


def visible(user):
    return set(Employee.objects.visible_to(user).values_list("employee_no", flat=True))


def test_an_employee_sees_only_herself(cast):
    assert visible(cast.amy.user) == {"E0003"}


def test_a_manager_sees_his_whole_reporting_subtree(cast):
    assert visible(cast.mike.user) == {"E0002", "E0003"}
    assert visible(cast.dora.user) == {"E0001", "E0002", "E0003"}


def test_a_managers_reach_includes_reports_in_other_units(cast):
    make_employee("E0100", "跨区下属", cast.south, manager=cast.mike)
    assert "E0100" in visible(cast.mike.user)


def test_an_hr_partner_sees_her_unit_and_its_descendants(cast):
    assert visible(cast.hazel) == {"E0001", "E0002", "E0003"}


def test_an_hr_partner_of_another_unit_sees_none_of_them(cast):
    assert visible(cast.harry) == {"E0004"}


def test_hr_admin_and_auditor_see_everyone(cast):
    assert visible(cast.ada) == visible(cast.audrey) == {"E0001", "E0002", "E0003", "E0004"}


def test_anonymous_and_inactive_users_see_nobody(cast):
    assert visible(AnonymousUser()) == set()
    cast.hazel.is_active = False
    cast.hazel.save()
    assert visible(cast.hazel) == set()


def test_only_hr_may_change_employees(cast):
    assert set(Employee.objects.managed_by(cast.mike.user)) == set()
    assert set(Employee.objects.managed_by(cast.harry)) == {cast.olga}
    assert Employee.objects.managed_by(cast.ada).count() == 4
    assert Employee.objects.managed_by(cast.audrey).count() == 0


def test_units_visible_follow_the_hr_scope(cast):
    assert set(units_visible_to(cast.hazel)) == {cast.east, cast.east_sales}
    assert set(units_visible_to(cast.amy.user)) == set()


def test_someone_who_left_keeps_only_their_own_record(cast):
    from kaohe.org.testing import grant

    grant(cast.mike.user, "hr_partner", cast.south)
    cast.mike.status = "terminated"
    cast.mike.save()
    assert visible(cast.mike.user) == {"E0002"}
    assert Employee.objects.managed_by(cast.mike.user).count() == 0
    assert set(units_visible_to(cast.mike.user)) == set()


def test_a_revoked_role_gives_no_reach_but_stays_on_record(cast):
    from kaohe.org.actions import do_revoke_role
    from kaohe.org.models import RoleAssignment

    assignment = RoleAssignment.objects.get(user=cast.hazel)
    do_revoke_role(cast.ada, assignment)
    assert visible(cast.hazel) == set()
    kept = RoleAssignment.history.get(pk=assignment.pk)
    assert kept.revoked_by == cast.ada and kept.revoked_at is not None
