from pathlib import Path

import pytest

from kaohe.lib.env import ConfigError, env_file, persistent_secret


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


def _secret_when_released(path: str, barrier) -> str:
    barrier.wait()
    return persistent_secret(Path(path))


def test_processes_starting_at_once_all_get_the_one_secret(tmp_path):
    """Workers of a server starting together used to race: one created the file, the others
    failed with FileExistsError (or read it before it was written)."""
    import concurrent.futures
    import multiprocessing

    path = tmp_path / "data" / "secret_key"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(6)
        with concurrent.futures.ProcessPoolExecutor(6, mp_context=context) as pool:
            futures = [pool.submit(_secret_when_released, str(path), barrier) for _ in range(6)]
            secrets = {future.result(timeout=60) for future in futures}
    assert secrets == {path.read_text().strip()}
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]
