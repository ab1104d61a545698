import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from kaohe.org.testing import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = reverse("front:login")


def login(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_the_login_page_is_in_chinese_by_default(client, cast):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert "登录" in response.content.decode()


def test_a_correct_password_logs_in_and_lands_on_the_role_page(client, cast):
    response = login(client, "amy")
    assert response.status_code == 302
    assert client.get(response.url).url == reverse("front:my_profile")


def test_hr_lands_on_the_people_list(client, cast):
    response = login(client, "hazel")
    assert client.get(response.url).url == reverse("front:employee_list")


def test_a_wrong_password_is_refused_with_a_message(client, cast):
    response = login(client, "amy", "nope")
    assert response.status_code == 400
    assert "用户名或密码不正确" in response.content.decode()


def test_repeated_failures_throttle_even_the_right_password(client, cast, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        login(client, "amy", "wrong")
    response = login(client, "amy")
    assert response.status_code == 400
    assert "尝试次数过多" in response.content.decode()


def test_the_throttle_also_counts_failures_from_one_ip_across_usernames(cast, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="203.0.113.9")
    for name in ("x1", "x2", "x3"):
        login(client, name, "wrong")
    assert login(client, "amy").status_code == 400
    assert login(Client(REMOTE_ADDR="203.0.113.10"), "amy").status_code == 302


def test_the_throttle_lifts_after_the_window(client, cast, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        login(client, "amy", "wrong")
        login(client, "amy", "wrong")
        assert login(client, "amy").status_code == 400
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        assert login(client, "amy").status_code == 302


def test_logout_needs_a_post_and_ends_the_session(client, cast):
    login(client, "amy")
    assert client.get(reverse("front:logout")).status_code == 405
    client.post(reverse("front:logout"))
    assert client.get(reverse("front:my_profile")).status_code == 302


def test_the_next_parameter_cannot_send_users_to_another_site(client, cast):
    response = client.post(
        LOGIN, {"username": "amy", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == reverse("front:home")


def test_switching_to_english_translates_the_pages(client, cast):
    client.post(reverse("front:set_language"), {"language": "en", "next": LOGIN})
    assert "Log in to kaohe" in client.get(LOGIN).content.decode()


@pytest.fixture
def invite_link(cast, client_for, django_capture_on_commit_callbacks):
    def send():
        cast.olga.user = None
        cast.olga.save()
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(cast.harry).post(reverse("front:invite", args=["E0004"]))
        assert response.status_code == 302
        return re.search(r"https?://\S+/invite/\S+/", mail.outbox[-1].body).group(0)

    return send


def test_hr_invites_an_employee_who_sets_a_password_once(client, invite_link):
    link = invite_link()
    path = "/" + link.split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200 and "奥尔加" in page.content.decode()
    response = client.post(path, {"password1": "Qz7!vlong-pass", "password2": "Qz7!vlong-pass"})
    assert response.status_code == 302
    assert login(Client(), "E0004", "Qz7!vlong-pass").status_code == 302
    assert Client().get(path).status_code == 404


def test_an_invitation_link_expires(client, invite_link, settings):
    settings.INVITATION_VALID_HOURS = 1
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        path = "/" + invite_link().split("/", 3)[3]
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        response = client.get(path)
        assert response.status_code == 404
        assert "已过期" in response.content.decode()


def test_a_weak_or_mismatched_password_is_refused_and_the_link_stays_usable(client, invite_link):
    path = "/" + invite_link().split("/", 3)[3]
    assert client.post(path, {"password1": "123", "password2": "123"}).status_code == 400
    assert client.post(path, {"password1": "Qz7!vlong", "password2": "other"}).status_code == 400
    assert client.get(path).status_code == 200


def test_an_invitation_needs_an_email_address(cast, client_for):
    cast.olga.user = None
    cast.olga.email = ""
    cast.olga.save()
    response = client_for(cast.harry).post(reverse("front:invite", args=["E0004"]), follow=True)
    assert "没有电子邮箱" in response.content.decode()
    assert mail.outbox == []


def test_a_manager_cannot_invite_his_reports(cast, client_for):
    response = client_for(cast.mike.user).post(reverse("front:invite", args=["E0003"]))
    assert response.status_code == 403


def test_an_hr_partner_cannot_reset_an_existing_password(cast, client_for):
    cast.amy.email = "attacker@example.net"
    cast.amy.save()
    response = client_for(cast.hazel).post(reverse("front:invite", args=["E0003"]))
    assert response.status_code == 403
    assert mail.outbox == []


def test_the_hr_admin_may_reset_a_plain_employees_password(
    cast, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(cast.ada).post(reverse("front:invite", args=["E0003"]))
    assert mail.outbox[-1].to == ["e0003@example.com"]


def test_no_one_resets_the_password_of_an_account_that_holds_a_role(cast, client_for):
    from kaohe.org.testing import grant

    grant(cast.mike.user, "hr_partner", cast.south)
    response = client_for(cast.ada).post(reverse("front:invite", args=["E0002"]), follow=True)
    assert "此账号拥有角色" in response.content.decode()
    assert mail.outbox == []


def test_a_role_granted_after_the_link_was_sent_makes_the_link_useless(
    cast, client_for, invite_link
):
    from kaohe.org.actions import ActionError, do_accept_invitation, do_invite
    from kaohe.org.testing import grant

    _invitation, token = do_invite(cast.ada, cast.amy)
    grant(cast.amy.user, "auditor")
    with pytest.raises(ActionError):
        do_accept_invitation(token, "Qz7!vlong-pass")
    assert Client().login(username="amy", password=PASSWORD)


def test_everyone_changes_their_own_password_with_the_current_one(cast, client_for):
    client = client_for(cast.amy.user)
    page = reverse("front:change_password")
    assert client.get(page).status_code == 200
    wrong = {"old_password": "nope", "new_password1": "Qz7!vlong", "new_password2": "Qz7!vlong"}
    assert client.post(page, wrong).status_code == 400
    right = {**wrong, "old_password": PASSWORD}
    assert client.post(page, right).status_code == 302
    assert client.get(reverse("front:my_profile")).status_code == 200, "still logged in"
    assert Client().login(username="amy", password="Qz7!vlong")
