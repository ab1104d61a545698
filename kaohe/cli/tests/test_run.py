import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment with a fresh, migrated SQLite database of its own."""
    data_dir = tmp_path_factory.mktemp("run")
    env = {**os.environ, "KAOHE_DATA_DIR": str(data_dir), "DATABASE_URL": "", "KAOHE_ENV": "test"}
    env.pop("KAOHE_ADDR", None)
    kaohe = [sys.executable, "-m", "kaohe"]
    subprocess.run([*kaohe, "migrate", "--noinput", "-v0"], env=env, check=True, timeout=60)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    """`kaohe run` as a child process, its output collected line by line."""

    def __init__(self, env, addr: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kaohe", "run", "--addr", addr, "--stop-timeout", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def child_pids(self) -> dict[str, int]:
        started = (re.search(r"started (\w+) \(pid (\d+)\)", line) for line in self.lines)
        return {m[1]: int(m[2]) for m in started if m}

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.reader.join(timeout=5)


def wait_for_health(url: str, run: Run, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - http://127.0.0.1
                return response.status
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer:\n{run.output()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_starts_web_worker_and_scheduler_and_ctrl_c_stops_them_all(env):
    port = free_port()
    run = Run(env, f"127.0.0.1:{port}")
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", run) == 200
        pids = run.child_pids()
        assert set(pids) == {"web", "worker", "scheduler"}
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=15) == 0, run.output()
        run.reader.join(timeout=5)
        assert not [name for name, pid in pids.items() if alive(pid)]
        prefixes = {line.split(" | ", 1)[0].strip() for line in run.lines if " | " in line}
        # The worker and the scheduler may not have printed anything yet; the web server
        # has logged the health check.
        assert {"web", "run"} <= prefixes
        assert run.lines[-1].endswith("| stopped")
    finally:
        run.stop()


def test_when_one_child_dies_run_stops_the_others_and_exits_non_zero(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = Run(env, f"127.0.0.1:{taken.getsockname()[1]}")  # the web server cannot bind
        try:
            assert run.process.wait(timeout=20) != 0
            run.reader.join(timeout=5)
            pids = run.child_pids()
            assert not [name for name, pid in pids.items() if alive(pid)]
            assert "web exited with code" in run.output()
        finally:
            run.stop()


def test_in_production_the_web_server_is_gunicorn(env):
    port = free_port()
    production = {**env, "KAOHE_ENV": "production", "KAOHE_SECRET_KEY": "x" * 50}
    run = Run(production, f"127.0.0.1:{port}")
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", run) == 200
        assert "gunicorn" in run.output()
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=15) == 0, run.output()
    finally:
        run.stop()
