import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from kaohe.org.models import Employee, Role, RoleAssignment

pytestmark = pytest.mark.django_db
PAGE = reverse("front:roles")


def test_the_hr_admin_makes_a_manager_hr_partner_of_a_unit(cast, client_for):
    data = {"who": "E0002", "role": "hr_partner", "unit": "SOUTH"}
    assert client_for(cast.ada).post(PAGE, data).status_code == 302
    seen = Employee.objects.visible_to(cast.mike.user)
    assert set(seen.values_list("employee_no", flat=True)) == {"E0002", "E0003", "E0004"}


def test_an_hr_partner_role_without_a_unit_is_refused(cast, client_for):
    response = client_for(cast.ada).post(PAGE, {"who": "mike", "role": "hr_partner"})
    assert response.status_code == 400
    assert "HR 伙伴必须指定负责的组织" in response.content.decode()
    assert not RoleAssignment.objects.filter(user=cast.mike.user).exists()


def test_an_unknown_person_is_a_form_error(cast, client_for):
    response = client_for(cast.ada).post(PAGE, {"who": "nobody", "role": "auditor"})
    assert response.status_code == 400
    assert "nobody" in response.content.decode()


def test_revoking_a_role_takes_the_access_away(cast, client_for):
    assignment = RoleAssignment.objects.get(user=cast.hazel)
    client_for(cast.ada).post(reverse("front:revoke_role", args=[assignment.pk]))
    assert not Employee.objects.visible_to(cast.hazel).exists()


def test_the_last_hr_admin_cannot_be_revoked(cast, client_for):
    assignment = RoleAssignment.objects.get(user=cast.ada, role=Role.HR_ADMIN)
    response = client_for(cast.ada).post(
        reverse("front:revoke_role", args=[assignment.pk]), follow=True
    )
    assert "最后一位 HR 管理员" in response.content.decode()
    assert RoleAssignment.objects.filter(pk=assignment.pk).exists()


def test_only_the_hr_admin_manages_roles(cast, client_for):
    assignment = RoleAssignment.objects.get(user=cast.ada)
    for user in (cast.hazel, cast.audrey, cast.mike.user):
        client = client_for(user)
        assert client.get(PAGE).status_code == 403
        assert client.post(PAGE, {"who": "amy", "role": "hr_admin"}).status_code == 403
        assert client.post(reverse("front:revoke_role", args=[assignment.pk])).status_code == 403
    assert not RoleAssignment.objects.filter(user=cast.amy.user).exists()


def test_the_cli_grants_the_first_hr_admin(db):
    call_command("role", "grant", "boss", "hr_admin", "--create-user")
    assert RoleAssignment.objects.get(user__username="boss").role == Role.HR_ADMIN
    with pytest.raises(CommandError, match=r"last HR admin|最后一位"):
        call_command("role", "revoke", "boss", "hr_admin")
    with pytest.raises(CommandError, match="no org unit"):
        call_command("role", "grant", "boss", "hr_partner", "--unit", "NOPE")
