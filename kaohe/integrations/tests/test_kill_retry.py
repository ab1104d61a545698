"""A client retries a batch whose server was killed (kill -9) in the middle of it.

A real server process (`runserver --noreload`) on its own database (a SQLite file, or a
PostgreSQL database in the PostgreSQL pass) is stopped at a known point of the request:
before the batch's transaction commits, or after it committed but before the response
left. Then a new server process starts and the client sends the batch again, with the
same Idempotency-Key or with none. Every record must count exactly once.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]
HELPER = "kaohe.integrations.tests.server_process"
SIZE = 5_000
NUMBERS = ["E0001", "E0002", "E0003", "E0004"]
MONTHS = ["2025-05", "2025-06"]

ITEMS = [
    {
        "external_id": f"D-{i:05d}",
        "employee": NUMBERS[i % 4],
        "metric": "sales_amount",
        "value": f"{i % 1000}.{i % 100:02d}",
        "occurred_at": f"{MONTHS[i % 2]}-{1 + i % 28:02d}T10:00:00+08:00",
    }
    for i in range(SIZE)
]
BODY = json.dumps({"source": "crm", "items": ITEMS})


def expected_actuals() -> list[list]:
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for item in ITEMS:
        cell = cells[(item["employee"], item["occurred_at"][:7] + "-01")]
        cell[0] += int(Decimal(item["value"]) * 10_000)
        cell[1] += 1
    return [[no, month, total, count] for (no, month), (total, count) in sorted(cells.items())]


# --- databases: one template set up once, a copy per test -------------------------------


class SqliteFiles:
    def __init__(self, folder: Path) -> None:
        self.template = folder / "template.sqlite3"

    def template_url(self) -> str:
        return f"sqlite:///{self.template}"

    def copy(self, folder: Path) -> str:
        target = folder / "kaohe.sqlite3"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"

    def drop_all(self) -> None:
        pass


class PostgresDatabases:
    def __init__(self, folder: Path) -> None:
        self.settings = connection.settings_dict
        self.template = f"kaohe_kill_{uuid.uuid4().hex[:10]}"
        self.made: list[str] = []

    def _url(self, name: str) -> str:
        s = self.settings
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self._url("postgres"), autocommit=True) as admin:
            admin.execute(sql)

    def template_url(self) -> str:
        self._admin(f'CREATE DATABASE "{self.template}"')
        self.made.append(self.template)
        return self._url(self.template)

    def copy(self, folder: Path) -> str:
        name = f"{self.template}_{len(self.made)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        for name in reversed(self.made):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(folder: Path, database_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "KAOHE_DATA_DIR": str(folder),
            "KAOHE_ENV": "test", "KAOHE_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}  # fmt: skip


def helper(env: dict, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", HELPER, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill-template")
    kind = PostgresDatabases if connection.vendor == "postgresql" else SqliteFiles
    made = kind(folder)
    try:
        key = helper(environment(folder, made.template_url()), "setup")["key"]
        yield made, key
    finally:
        made.drop_all()


@pytest.fixture
def site(databases, tmp_path):
    made, key = databases
    return environment(tmp_path, made.copy(tmp_path)), key


# --- the server and the client ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, env: dict, folder: Path, pause: str = "") -> None:
        self.port = free_port()
        self.marker = folder / f"paused-{self.port}"
        self.log_path = folder / f"server-{self.port}.log"
        args = [sys.executable, "-m", HELPER, "serve", str(self.port)]
        if pause:
            args += [pause, str(self.marker)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT)  # fmt: skip
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()  # a server that never came up is not left behind
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                requests.get(self.url + "/healthz", timeout=10)
                return
            except requests.RequestException:  # not listening yet, or slow to boot
                time.sleep(0.1)
        pytest.fail("the server did not start: " + self.log_path.read_text())

    def wait_for_pause(self) -> None:
        deadline = time.monotonic() + 120
        while not self.marker.exists():
            assert time.monotonic() < deadline, self.log_path.read_text()
            assert self.process.poll() is None, self.log_path.read_text()
            time.sleep(0.05)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def send(server: Server, key: str, idempotency_key: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return requests.post(server.url + "/api/v1/facts", data=BODY, headers=headers, timeout=120)


def send_until_answered(server: Server, key: str, idempotency_key: str | None):
    """What a careful client does: a 409 (the first attempt is still claimed) means wait."""
    for _attempt in range(60):
        response = send(server, key, idempotency_key)
        if response.status_code != 409:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    pytest.fail("the retry was never answered")


def send_and_lose_the_answer(server: Server, key: str, idempotency_key: str | None) -> None:
    """Sends the batch, kills the server where it paused, and checks no answer came."""
    outcome: dict = {}

    def client():
        try:
            outcome["response"] = send(server, key, idempotency_key)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    server.wait_for_pause()
    server.kill()
    thread.join(timeout=30)
    assert "error" in outcome and "response" not in outcome


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("idempotency_key", [None, "batch-2025-06-a"])
@pytest.mark.parametrize(("pause", "committed"), [("before_commit", False), ("after_commit", True)])
def test_a_batch_cut_off_by_a_killed_server_counts_once_when_retried(
    site, tmp_path, pause, committed, idempotency_key
):
    env, key = site
    first = Server(env, tmp_path, pause=pause)
    try:
        send_and_lose_the_answer(first, key, idempotency_key)
    finally:
        first.stop()
    state = helper(env, "dump")
    assert state["facts"] == (SIZE if committed else 0)

    second = Server(env, tmp_path)
    try:
        retried = send_until_answered(second, key, idempotency_key)
        again = send(second, key, idempotency_key)
    finally:
        second.stop()

    assert retried.status_code == 200, retried.text
    counts = retried.json()["counts"]
    assert counts["unchanged" if committed else "created"] == SIZE
    assert counts["created" if committed else "unchanged"] == counts["updated"] == 0
    if idempotency_key:
        assert again.headers["Idempotency-Replayed"] == "true" and again.json() == retried.json()
    else:
        assert again.json()["counts"]["unchanged"] == SIZE
    state = helper(env, "dump")
    assert state["facts"] == SIZE
    assert state["actuals"] == expected_actuals()
    # The sync log is written in the batch's transaction: it is exact too.
    assert state["deliveries"] == committed + 1 + (idempotency_key is None)
