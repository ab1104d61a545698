import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction

from kaohe.org import demo
from kaohe.org.models import Company, Employee, OrgUnit, Placement, Role, roles_of

pytestmark = pytest.mark.django_db


def load_demo(*args) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def story():
    load_demo()
    return {u.username: u for u in get_user_model().objects.all()}


def visible(user) -> set[str]:
    return set(Employee.objects.visible_to(user).values_list("employee_no", flat=True))


def in_unit(code: str) -> set[str]:
    unit = OrgUnit.objects.get(code=code)
    return set(
        Employee.objects.filter(unit.descendants_q("org_unit__")).values_list(
            "employee_no", flat=True
        )
    )


def test_it_loads_a_company_of_about_sixty_people_under_hq_in_three_regions(story):
    company = Company.get()
    assert (company.name, company.has_union) == ("示例科技有限公司", True)
    assert 50 <= Employee.objects.count() <= 70
    hq = OrgUnit.objects.get(code="HQ")
    assert {"EAST", "SOUTH", "NORTH", "SALES"} <= set(
        OrgUnit.objects.filter(parent=hq).values_list("code", flat=True)
    )
    assert OrgUnit.objects.get(code="EAST-SALES-1").parent.code == "EAST"
    assert Employee.objects.filter(manager__isnull=True).count() == 1


def test_the_people_look_real(story):
    for e in Employee.objects.all():
        assert e.name and e.position and e.gender and e.birth_date and e.mobile.startswith("13")
        assert len(e.mobile) == 11 and e.email.endswith("@demo.kaohe.local")
        assert e.birth_date < e.hire_date
        assert e.manager is None or e.manager.hire_date <= e.hire_date
    assert Employee.objects.values("email").distinct().count() == Employee.objects.count()


def test_the_regional_director_of_the_story_reports_to_the_sales_vp(story):
    director = story["director"].employee
    assert (director.name, director.position) == ("王建国", "华东区域总监")
    assert director.org_unit.code == "EAST"
    assert director.manager == story["vp"].employee
    assert story["vp"].employee.position == "销售副总裁"
    assert director.employee_no.startswith("K") and len(director.employee_no) == 5


def test_every_demo_login_has_the_shared_password_and_its_role(story):
    assert set(story) == set(demo.LOGINS)
    for user in story.values():
        assert user.check_password("kaohe-demo")
        assert user.employee is not None
    assert roles_of(story["hradmin"]) == {Role.HR_ADMIN}
    assert roles_of(story["auditor"]) == {Role.AUDITOR}
    for region in ("east", "south", "north"):
        partner = story[f"hr_{region}"]
        assert roles_of(partner) == {Role.HR_PARTNER}
        assert partner.role_assignments.get().org_unit.code == region.upper()
        assert partner.employee.gender == "female"
    for plain in ("director", "vp", "employee"):
        assert roles_of(story[plain]) == set()


def test_the_east_hr_partner_sees_exactly_the_east_region(story):
    east = in_unit("EAST")
    assert visible(story["hr_east"]) == east
    assert story["hr_east"].employee.employee_no in east
    assert story["director"].employee.employee_no in east
    assert not east & in_unit("SOUTH")


def test_the_director_sees_his_reporting_subtree_but_not_his_hr_partner(story):
    director = story["director"].employee
    seen = visible(story["director"])
    assert director.employee_no in seen
    assert story["employee"].employee.employee_no in seen
    assert story["hr_east"].employee.employee_no not in seen
    assert story["vp"].employee.employee_no not in seen
    assert len(seen) == 16


def test_the_employee_is_a_sales_rep_under_the_director_and_sees_only_herself(story):
    rep = story["employee"].employee
    assert rep.position == "销售代表" and rep.gender == "female"
    assert rep.manager.manager == story["director"].employee
    assert visible(story["employee"]) == {rep.employee_no}


def test_hr_admin_and_auditor_see_everyone(story):
    everyone = set(Employee.objects.values_list("employee_no", flat=True))
    assert visible(story["hradmin"]) == visible(story["auditor"]) == everyone


def test_every_employee_has_one_open_placement_from_the_hire_date(story):
    for e in Employee.objects.prefetch_related("placements"):
        (placement,) = e.placements.all()
        assert placement.valid_to is None
        assert (placement.valid_from, placement.org_unit_id, placement.manager_id) == (
            e.hire_date,
            e.org_unit_id,
            e.manager_id,
        )


def test_loading_it_twice_changes_nothing(story):
    counts = Employee.objects.count(), Placement.objects.count(), OrgUnit.objects.count()
    assert "demo company already loaded" in load_demo()
    assert "demo company already loaded" in load_demo("--employees", "100")
    assert counts == (Employee.objects.count(), Placement.objects.count(), OrgUnit.objects.count())


def test_it_refuses_to_run_in_production(settings):
    settings.KAOHE_ENV = "production"
    with pytest.raises(CommandError, match="production"):
        load_demo()
    assert not Employee.objects.exists()


def test_it_refuses_a_database_that_already_holds_other_people(cast):
    with pytest.raises(CommandError, match="empty"):
        load_demo()


def synthetic_digest(n: int, seed: int) -> str:
    """Loads a synthetic company, digests it, and rolls it back."""
    with transaction.atomic():
        load_demo("--employees", str(n), "--seed", str(seed))
        rows = Employee.objects.order_by("employee_no").values_list(
            "employee_no", "name", "manager__employee_no", "org_unit__code"
        )
        digest = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
        transaction.set_rollback(True)
    return digest


def test_a_synthetic_company_is_the_same_for_the_same_seed():
    first = synthetic_digest(2000, seed=7)
    assert not Employee.objects.exists()
    assert synthetic_digest(2000, seed=7) == first
    assert synthetic_digest(2000, seed=8) != first


def test_a_synthetic_company_has_one_root_and_no_manager_cycles():
    load_demo("--employees", "2000", "--seed", "3")
    managers = dict(Employee.objects.values_list("pk", "manager_id"))
    assert len(managers) == 2000
    assert sum(m is None for m in managers.values()) == 1
    for pk in managers:
        seen = set()
        while pk is not None:
            assert pk not in seen
            seen.add(pk)
            pk = managers[pk]
    assert Placement.objects.filter(valid_to__isnull=True).count() == 2000


def test_a_synthetic_company_keeps_spans_near_eight_and_units_proportional():
    spec = demo.synthetic_company(20_000, seed=1)
    spans = [sum(1 for p in spec.people if p.manager == i) for i in range(len(spec.people))]
    managers = [s for s in spans if s]
    assert 6 <= sum(managers) / len(managers) <= 10
    assert 20_000 / 60 <= len(spec.units) <= 20_000 / 10
    assert len(demo.synthetic_company(2000, seed=1).units) < len(spec.units)


def test_a_synthetic_company_gets_the_demo_logins_with_their_roles():
    load_demo("--employees", "2000", "--seed", "1")
    users = {u.username: u for u in get_user_model().objects.all()}
    assert set(users) == set(demo.LOGINS)
    assert users["director"].employee.org_unit.code == "EAST"
    partner = users["hr_east"].employee
    assert partner.org_unit.code.startswith("HR") and not partner.reports.exists()
    assert visible(users["hr_east"]) == in_unit("EAST") | {partner.employee_no}
    assert visible(users["employee"]) == {users["employee"].employee.employee_no}


def test_the_evidence_log_says_the_people_are_demo_data_and_is_signed(story):
    from kaohe.ledger.models import Checkpoint, Entry

    entry = Entry.objects.get(kind="org.demo.loaded")
    assert '"synthetic":false' in entry.body
    assert Checkpoint.objects.filter(tree_size__gt=entry.index).exists()
