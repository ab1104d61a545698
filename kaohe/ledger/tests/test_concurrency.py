"""Several writer processes at once, and one killed while it holds the log."""

import re
import subprocess
import sys

from kaohe.ledger.tests.conftest import SHARED_DB

pytestmark = SHARED_DB

WRITERS, EACH = 4, 100


def writer(env, name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kaohe.ledger.tests.appender", name, *args],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def run_together(children: list[subprocess.Popen]) -> None:
    """Starts the writers' appends at once and waits for them to finish. Should one fail,
    the others are killed: left waiting, they would write once this test had cleaned up,
    into the next test's database."""
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stdout.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, _ = child.communicate(timeout=60)
            assert child.returncode == 0, out
            assert out.strip() == "done", out
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)


def verify(env) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kaohe", "ledger", "verify"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_writers_in_several_processes_get_every_index_once_and_build_one_valid_tree(
    shared_database,
):
    run_together([writer(shared_database, f"w{n}", str(EACH)) for n in range(WRITERS)])
    # verify checks indexes 0..n-1 against the head's size, every leaf and node, the root
    assert re.match(rf"OK: {WRITERS * EACH} entries, root [0-9a-f]{{64}}", verify(shared_database))


def test_a_writer_killed_while_holding_the_log_leaves_no_gap_and_no_half_entry(
    shared_database,
):
    run_together([writer(shared_database, "first", "3")])
    holder = writer(shared_database, "holder", "1", "--hold")
    try:
        assert holder.stdout.readline().strip() == "holding"
        holder.kill()  # SIGKILL: no cleanup, the transaction is cut off mid-way
        holder.wait(timeout=10)
    finally:
        holder.kill()
    run_together([writer(shared_database, "after", "2")])
    assert verify(shared_database).startswith("OK: 5 entries")
