from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.utils import ConnectionHandler

from kaohe.cli import checks
from kaohe.cli.checks import Status


def test_the_doctor_prints_one_line_per_capability_and_passes_on_a_healthy_machine(db):
    out = StringIO()
    call_command("doctor", stdout=out)
    lines = out.getvalue().splitlines()
    names = ("database", "migrations", "data dir", "secret key", "CJK font", "pdftotext",
             "browser", "email", "ledger key")  # fmt: skip
    for name in names:
        assert sum(name in line for line in lines) == 1, name
    assert all(line[0] in "✓✗!·" for line in lines[:-1])
    assert lines[-1] == "kaohe can start."


def test_the_database_line_names_the_vendor_and_version(db):
    result = checks.check_database()
    assert result.status == Status.OK
    assert result.detail.startswith(connection.display_name + " ")


def test_an_unreachable_database_is_a_required_failure(db, tmp_path):
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "no/db")}}
    )
    result = checks.check_database(handler["default"])
    assert (result.status, result.required, result.blocks_start) == (Status.FAIL, True, True)
    assert "cannot connect" in result.detail and str(tmp_path / "no") in result.fix


def test_applied_migrations_pass(db):
    assert checks.check_migrations().status == Status.OK


def test_a_data_dir_that_cannot_be_written_fails_with_the_fix(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = checks.check_data_dir(not_a_dir)
    assert result.blocks_start and "KAOHE_DATA_DIR" in result.fix
    assert checks.check_data_dir(tmp_path).status == Status.OK


def test_the_secret_key_may_come_from_the_environment_or_a_file(tmp_path):
    key = "k" * 48
    assert checks.check_secret_key({"KAOHE_SECRET_KEY": key}, tmp_path).status == Status.OK
    path = tmp_path / "secret"
    path.write_text(key)
    path.chmod(0o600)
    result = checks.check_secret_key({"KAOHE_SECRET_KEY_FILE": str(path)}, tmp_path)
    assert result.status == Status.OK and str(path) in result.detail


def test_a_missing_secret_key_is_a_required_failure(tmp_path, settings):
    settings.PRODUCTION = True
    result = checks.check_secret_key({}, tmp_path)
    assert result.blocks_start and "KAOHE_SECRET_KEY_FILE" in result.fix
    missing = checks.check_secret_key({"KAOHE_SECRET_KEY_FILE": str(tmp_path / "nope")}, tmp_path)
    assert missing.blocks_start


def test_a_short_or_world_readable_secret_is_a_warning(tmp_path):
    assert checks.check_secret_key({"KAOHE_SECRET_KEY": "short"}, tmp_path).status == Status.WARN
    path = tmp_path / "secret"
    path.write_text("k" * 48)
    path.chmod(0o644)
    result = checks.check_secret_key({"KAOHE_SECRET_KEY_FILE": str(path)}, tmp_path)
    assert result.status == Status.WARN and result.fix == f"chmod 600 {path}"


def test_a_missing_cjk_font_tells_which_package_to_install(tmp_path):
    result = checks.check_cjk_font([tmp_path])
    assert result.status == Status.FAIL and not result.required
    assert result.fix == "apt-get install fonts-noto-cjk"


def test_the_regular_noto_cjk_font_is_preferred(tmp_path):
    for name in ("NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc", "DejaVuSans.ttf"):
        (tmp_path / name).write_bytes(b"")
    result = checks.check_cjk_font([tmp_path])
    assert result.status == Status.OK and result.detail.endswith("NotoSansCJK-Regular.ttc")


def test_pdftotext_needs_poppler_utils_and_poppler_data(tmp_path):
    missing_tool = checks.check_pdftotext(which=lambda name: None, data=tmp_path)
    missing_data = checks.check_pdftotext(which=lambda name: "/bin/true", data=tmp_path / "no")
    for result in (missing_tool, missing_data):
        assert result.status == Status.FAIL
        assert result.fix == "apt-get install poppler-utils poppler-data"


def test_a_missing_browser_tells_which_package_to_install(tmp_path):
    result = checks.check_browser([str(tmp_path / "chromium"), "no-such-browser"])
    assert result.status == Status.FAIL and result.fix == "apt-get install chromium"


def test_console_email_is_fine_in_development_but_a_warning_in_production():
    console = "django.core.mail.backends.console.EmailBackend"
    assert checks.check_email(console, production=False).status == Status.OK
    result = checks.check_email(console, production=True)
    assert result.status == Status.WARN and "smtp" in result.fix
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert checks.check_email(smtp, production=True).status == Status.OK


def test_a_ledger_key_not_created_yet_is_a_note_not_a_failure(tmp_path):
    result = checks.check_ledger_key(tmp_path / "keys/ledger-ed25519.pem")
    assert result.status == Status.NOTE and not result.blocks_start
    assert "not created yet (created on first start)" in result.detail


def test_the_ledger_key_defaults_to_the_data_dir_unless_configured(settings, monkeypatch):
    monkeypatch.delenv("KAOHE_LEDGER_KEY_FILE", raising=False)
    assert checks.ledger_key_path() == settings.DATA_DIR / "keys" / "ledger-ed25519.pem"
    monkeypatch.setenv("KAOHE_LEDGER_KEY_FILE", "/etc/kaohe/ledger.pem")
    assert checks.ledger_key_path() == Path("/etc/kaohe/ledger.pem")


def test_the_doctor_exits_non_zero_when_a_required_check_fails(db, monkeypatch):
    broken = checks.Result("data dir", Status.FAIL, "/nowhere is not writable", "mkdir", True)
    monkeypatch.setattr(checks, "check_data_dir", lambda: broken)
    out = StringIO()
    with pytest.raises(CommandError, match="data dir"):
        call_command("doctor", stdout=out)
    assert "✗ data dir" in out.getvalue() and "→ mkdir" in out.getvalue()


def test_an_optional_failure_does_not_stop_kaohe_from_starting(db, monkeypatch):
    missing = checks.Result("CJK font", Status.FAIL, "none", "apt-get install fonts-noto-cjk")
    monkeypatch.setattr(checks, "check_cjk_font", lambda: missing)
    out = StringIO()
    call_command("doctor", stdout=out)
    assert "✗ CJK font" in out.getvalue() and out.getvalue().endswith("kaohe can start.\n")


def test_checks_never_print_the_database_password(db):
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "USER": "u",
                "PASSWORD": "s3cret-pw", "HOST": "127.0.0.1", "PORT": "1"}}
    )  # fmt: skip
    result = checks.check_database(handler["default"])
    assert result.status == Status.FAIL
    assert "s3cret-pw" not in result.detail + result.fix
