"""Who may change notification settings, what the ledger keeps of it, and the inbox."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from kaohe.ledger.models import Entry
from kaohe.notify.actions import (
    do_mark_read,
    do_save_endpoint,
    do_save_preference,
    do_save_robot,
)
from kaohe.notify.send import Message, notify
from kaohe.org.actions import FieldErrors

pytestmark = pytest.mark.django_db

HOOK = "https://open.feishu.cn/open-apis/bot/v2/hook/HOOKID"
ROBOT = {"name": "群", "platform": "feishu", "url": HOOK}


@pytest.mark.parametrize("who", ["hazel", "harry", "audrey"])
def test_only_hr_admins_configure_robots_and_endpoints(cast, who):
    with pytest.raises(PermissionDenied):
        do_save_robot(getattr(cast, who), None, **ROBOT)
    with pytest.raises(PermissionDenied):
        do_save_endpoint(getattr(cast, who), None, name="x", url="https://a.example/h",
                         event_types=["*"])  # fmt: skip


def test_the_ledger_names_the_origin_and_fingerprints_not_the_hook_id(cast):
    robot = do_save_robot(cast.ada, None, secret="feishu-secret", **ROBOT)
    do_save_robot(cast.ada, robot, **{**ROBOT, "url": ROBOT["url"] + "2"})

    created, changed = Entry.objects.filter(kind__startswith="notify.robot").order_by("index")
    assert "HOOKID" not in created.body + changed.body and "feishu-secret" not in created.body
    assert "https://open.feishu.cn" in changed.body and "new_sha256" in changed.body


def test_saving_an_unchanged_robot_records_nothing(cast):
    robot = do_save_robot(cast.ada, None, **ROBOT)
    do_save_robot(cast.ada, robot, **ROBOT)

    assert Entry.objects.filter(kind="notify.robot.changed").count() == 0


def test_names_are_unique(cast):
    do_save_robot(cast.ada, None, **ROBOT)

    with pytest.raises(FieldErrors) as refused:
        do_save_robot(cast.ada, None, **{**ROBOT, "platform": "wecom"})
    assert "name" in refused.value.errors


def test_a_short_endpoint_secret_is_refused(cast):
    with pytest.raises(FieldErrors) as refused:
        do_save_endpoint(cast.ada, None, name="x", url="https://a.example/h", event_types=["*"],
                         secret="short")  # fmt: skip
    assert "secret" in refused.value.errors


def test_no_one_marks_anothers_notification_read(cast):
    [item] = notify([cast.amy.user], Message("x", title="t", body="b"))

    with pytest.raises(PermissionDenied):
        do_mark_read(cast.mike.user, item)


def test_half_given_quiet_hours_are_refused(cast):
    with pytest.raises(FieldErrors):
        do_save_preference(cast.amy.user, email=True, quiet_start=None,
                           quiet_end=dt.time(8), language="")  # fmt: skip
