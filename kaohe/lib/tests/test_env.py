import pytest

from kaohe.lib.env import ConfigError, env_file


def test_a_file_setting_is_none_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("KAOHE_TEST_FILE", raising=False)
    assert env_file("KAOHE_TEST_FILE") is None
    monkeypatch.setenv("KAOHE_TEST_FILE", " ")
    assert env_file("KAOHE_TEST_FILE") is None


def test_a_file_setting_names_an_existing_file(monkeypatch, tmp_path):
    path = tmp_path / "roots.pem"
    path.write_text("x")
    monkeypatch.setenv("KAOHE_TEST_FILE", str(path))
    assert env_file("KAOHE_TEST_FILE") == path


def test_a_file_setting_that_names_no_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("KAOHE_TEST_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"KAOHE_TEST_FILE=.*missing\.pem' is not a file"):
        env_file("KAOHE_TEST_FILE")
    monkeypatch.setenv("KAOHE_TEST_FILE", str(tmp_path))
    with pytest.raises(ConfigError, match="is not a file"):
        env_file("KAOHE_TEST_FILE")
