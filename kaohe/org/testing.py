"""The named people every permission test starts from.

amy (employee, East sales) reports to mike (East sales manager), who reports to dora
(East regional director). hazel is HR partner of East; olga is an employee in South;
harry is HR partner of South (another unit); ada is HR admin; audrey is the auditor.
"""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from kaohe.lib import clock
from kaohe.org.actions import open_placement
from kaohe.org.models import Company, Employee, OrgUnit, Role, RoleAssignment

PASSWORD = "test-pass-123"


@dataclass
class Cast:
    company: Company
    root: OrgUnit
    east: OrgUnit
    east_sales: OrgUnit
    south: OrgUnit
    amy: Employee
    mike: Employee
    dora: Employee
    olga: Employee
    hazel: object
    harry: object
    ada: object
    audrey: object


def make_unit(code: str, name: str, parent: OrgUnit | None = None) -> OrgUnit:
    unit = OrgUnit.objects.create(code=code, name=name, parent=parent, path="")
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.save(update_fields=["path"])
    return unit


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_employee(no: str, name: str, unit: OrgUnit, manager=None, login=None, **fields):
    fields.setdefault("hire_date", dt.date(2020, 3, 1))
    fields.setdefault("email", f"{no.lower()}@example.com")
    user = make_user(login) if login else None
    employee = Employee.objects.create(
        employee_no=no, name=name, org_unit=unit, manager=manager, user=user, **fields
    )
    open_placement(employee, None, fields["hire_date"], "hired")
    return employee


def grant(user, role: str, unit: OrgUnit | None = None) -> RoleAssignment:
    return RoleAssignment.objects.create(
        user=user, role=role, org_unit=unit, granted_at=clock.now()
    )


def make_cast() -> Cast:
    company = Company.get()
    company.name = "测试公司"
    company.save()
    root = make_unit("HQ", "总部")
    east = make_unit("EAST", "华东大区", root)
    east_sales = make_unit("EAST-S", "华东销售部", east)
    south = make_unit("SOUTH", "华南大区", root)
    dora = make_employee("E0001", "杜拉", east, login="dora", position="区域总监")
    mike = make_employee("E0002", "马克", east_sales, dora, login="mike", position="销售经理")
    amy = make_employee(
        "E0003", "艾米", east_sales, mike, login="amy", position="销售代表", gender="female"
    )
    olga = make_employee("E0004", "奥尔加", south, login="olga", position="销售代表")
    hazel = make_user("hazel")
    grant(hazel, Role.HR_PARTNER, east)
    harry = make_user("harry")
    grant(harry, Role.HR_PARTNER, south)
    ada = make_user("ada")
    grant(ada, Role.HR_ADMIN)
    audrey = make_user("audrey")
    grant(audrey, Role.AUDITOR)
    return Cast(company, root, east, east_sales, south, amy, mike, dora, olga,
                hazel, harry, ada, audrey)  # fmt: skip
