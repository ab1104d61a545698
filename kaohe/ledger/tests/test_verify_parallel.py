"""`kaohe ledger verify` split over worker processes finds what one process finds.

Chunks of 8 entries here (16,384 in use), so a log of 300 has 37 whole chunks, a short one
and tree levels above the chunks; the worker processes read it through a connection of
their own (on SQLite from a copy of the in-memory test database)."""

import concurrent.futures
import contextlib
import sqlite3

import pytest
from django.db import connection, transaction

from kaohe.ledger import audit, sweep
from kaohe.ledger.bulk import append_many
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.models import Node
from kaohe.ledger.tests.conftest import SHARED_DB

pytestmark = SHARED_DB
SIZE = 300


def items(start: int, stop: int):
    return [("result.signed", {"employee": f"E{n % 7}", "document": f"D-{n}"},
             f"user:{n % 3}:hr", {"n": n}) for n in range(start, stop)]  # fmt: skip


@pytest.fixture
def log(monkeypatch, tmp_path):
    monkeypatch.setattr(audit, "CHUNK_LEVEL", 3)
    for start, stop in ((0, 100), (100, SIZE)):
        with transaction.atomic():
            append_many(items(start, stop))
        make_checkpoint()
    if connection.vendor == "sqlite":
        monkeypatch.setattr(audit, "_source", lambda: _copy(tmp_path / "copy.sqlite3"))
        monkeypatch.setattr(audit, "_visible_elsewhere", lambda: True)


def _copy(path) -> sweep.Source:
    """The entries and nodes, copied to a file the worker processes can open."""
    path.unlink(missing_ok=True)
    tables = ("ledger_entry", "ledger_node")
    raw = connection.connection
    with contextlib.closing(sqlite3.connect(path)) as copy:
        for table in tables:
            (schema,) = raw.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table])
            copy.execute(schema[0])
            # table_info leaves out the generated columns, which the copy computes itself.
            names = ", ".join(f'"{row[1]}"' for row in raw.execute(f"PRAGMA table_info({table})"))
            rows = raw.execute(f"SELECT {names} FROM {table}").fetchall()  # noqa: S608
            marks = ", ".join("?" * len(rows[0]))
            copy.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
        copy.commit()
    return sweep.Source("sqlite", {"database": str(path)})


def tamper(statement: str, params=()) -> None:
    """Raw SQL around the append-only guard; on PostgreSQL the guard triggers are off only
    for this statement (the data here is committed, for the workers to see)."""
    tables = ("ledger_entry", "ledger_node")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def messages(jobs: int) -> list[str]:
    return [str(problem) for problem in audit.verify_log(jobs=jobs)]


def test_an_intact_log_verifies_in_worker_processes(log, monkeypatch):
    pools = []

    class Pool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    one = audit.check_log(jobs=1)
    assert pools == []
    two = audit.check_log(jobs=2)
    assert len(pools) == 1
    assert one.ok and two.ok, one.problems + two.problems
    assert one.root == two.root
    assert (two.size, two.checkpoints) == (SIZE, 2)


def test_this_process_recomputes_its_share_while_the_workers_do_theirs(log, monkeypatch):
    here, run = [], sweep.run

    def run_here(task, reader):
        here.append(task.start)
        return run(task, reader)

    monkeypatch.setattr(sweep, "run", run_here)
    report = audit.check_log(jobs=2)
    assert report.ok, report.problems
    assert here  # runs this process took (the worker took the others)


@pytest.mark.parametrize(
    ("statement", "params", "named"),
    [
        ("UPDATE ledger_entry SET body = replace(body, 'D-77', 'D-78') WHERE \"index\" = 77", [],
         "entry 77 was changed: its body no longer hashes to leaf 77"),
        ('UPDATE ledger_entry SET body = body WHERE "index" = 77', [], None),
        ('DELETE FROM ledger_entry WHERE "index" = 130', [], "entry 130 is missing"),
        ('DELETE FROM ledger_entry WHERE "index" = 299', [], "entry 299 is missing"),
        ("UPDATE ledger_node SET hash = %s WHERE id = %s", [bytes(32), Node.key(2, 9)],
         "stored tree node (2, 9) over entries 36..39 does not match"),
        ("DELETE FROM ledger_node WHERE id = %s", [Node.key(5, 1)],
         "stored tree node (5, 1) over entries 32..63 is missing"),
        ("UPDATE ledger_node SET hash = %s WHERE id = %s", [bytes(32), Node.key(0, 201)],
         "entry 201"),
    ],
)  # fmt: skip
def test_worker_processes_name_what_one_process_names(log, statement, params, named):
    tamper(statement, params)
    one = messages(jobs=1)
    assert messages(jobs=2) == one
    if named is None:
        assert one == []
    else:
        assert one and named in one[0]


def test_two_swapped_entries_are_named_by_worker_processes(log):
    tamper('UPDATE ledger_entry SET "index" = -1 WHERE "index" = 41')
    tamper('UPDATE ledger_entry SET "index" = 41 WHERE "index" = 42')
    tamper('UPDATE ledger_entry SET "index" = 42 WHERE "index" = -1')
    one = messages(jobs=1)
    assert messages(jobs=2) == one
    assert "entry 41 was reordered: position 41 holds entry 42" in one[0]


def test_a_small_log_is_verified_in_this_process_and_a_large_one_by_a_worker_per_cpu(
    monkeypatch,
):
    monkeypatch.setattr(audit, "_visible_elsewhere", lambda: True)
    monkeypatch.setattr(audit, "_cpus", lambda: 64)
    assert audit._jobs(None, audit.PARALLEL_FROM - 1) == 1
    assert audit._jobs(None, audit.PARALLEL_FROM) == audit.MAX_JOBS
    assert audit._jobs(3, 10) == 3


def test_a_log_read_inside_a_transaction_is_verified_in_this_process():
    with transaction.atomic():  # what it wrote, no other connection sees
        assert audit._jobs(None, audit.PARALLEL_FROM) == 1
        assert audit._jobs(2, audit.PARALLEL_FROM) == 1


def test_workers_that_cannot_connect_leave_the_work_here(log, monkeypatch, tmp_path, caplog):
    missing = sweep.Source("sqlite", {"database": str(tmp_path / "missing.sqlite3")})
    monkeypatch.setattr(audit, "_source", lambda: missing)
    monkeypatch.setattr(audit, "_visible_elsewhere", lambda: True)
    report = audit.check_log(jobs=2)
    assert report.ok and report.size == SIZE, report.problems
    assert "worker processes failed" in caplog.text
