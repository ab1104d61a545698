"""The evidence ledger: appends per second, `kaohe ledger verify` against plain hashlib over
the same bytes, and inclusion proofs in a log of 10,000,000 leaves.

Sizes: KAOHE_BENCH_LEDGER_APPENDS (default 5,000 single appends), KAOHE_BENCH_LEDGER_VERIFY
(default 1,000,000 entries) and KAOHE_BENCH_LEDGER_PROOF (default 10,000,000 leaves).
"""

import hashlib
import os
import random
import statistics
import time
from pathlib import Path

from benchmarks import Measurement, benchmark, timed


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _item(i: int) -> tuple[str, dict, str, dict]:
    return (
        "bench.result_signed",
        {"employee": f"B{i % 100_000:06d}", "document": f"doc-{i}"},
        "user:1:bench",
        {"score": f"{i % 100}.50", "period": "2026-Q1", "note": "考核结果确认"},
    )


@benchmark
def ledger(scratch: Path) -> dict[str, Measurement]:
    from django.db import transaction

    from kaohe.ledger import audit, bulk, log
    from kaohe.ledger.checkpoints import make_checkpoint
    from kaohe.ledger.models import Entry

    appends = _size("KAOHE_BENCH_LEDGER_APPENDS", 5_000)

    def one_by_one():
        for i in range(appends):
            with transaction.atomic():
                log.append(*_item(i))

    seconds, _ = timed(one_by_one)
    results = {
        "ledger.append_per_s": Measurement(
            appends / seconds, unit="/s", target=2000, higher_is_better=True
        )
    }

    total = _size("KAOHE_BENCH_LEDGER_VERIFY", 1_000_000)
    with transaction.atomic():
        bulk.append_many(_item(i) for i in range(appends, total))
    make_checkpoint(force=True)
    bodies = [
        body.encode() for body in Entry.objects.order_by("index").values_list("body", flat=True)
    ]

    def plain_hashlib():
        sha = hashlib.sha256
        for data in bodies:
            sha(data).digest()

    hashing, _ = timed(plain_hashlib)
    verifying, problems = timed(audit.verify_log)
    assert not problems, problems[:3]
    results["ledger.verify_ratio_vs_hashlib"] = Measurement(
        hashing / verifying, unit="x", target=0.5, higher_is_better=True
    )
    results["ledger.verify_1m_seconds"] = Measurement(verifying, baseline=hashing)
    results.update(_proofs_at_scale(scratch))
    return results


def _proofs_at_scale(scratch: Path) -> dict[str, Measurement]:
    """Replaces the stored nodes with those of a 10M-leaf tree (built in memory, inserted
    in bulk), then times inclusion proofs at random leaves."""
    from django.db import connection

    from kaohe.ledger import tree
    from kaohe.ledger.models import Node
    from kaohe.lib import merkle

    leaves = _size("KAOHE_BENCH_LEDGER_PROOF", 10_000_000)
    builder = merkle.TreeBuilder()
    insert = f"INSERT INTO {Node._meta.db_table} (id, hash) VALUES (%s, %s)"  # noqa: S608

    def fill():
        rows = []
        with connection.cursor() as cursor:
            # The benchmark database is SQLite and throwaway; no trigger guards it.
            cursor.execute(f"DELETE FROM {Node._meta.db_table}")  # noqa: S608
            for i in range(leaves):
                leaf = merkle.leaf_hash(i.to_bytes(8, "big"))
                rows += [(Node.key(level, index), h) for (level, index), h in builder.append(leaf)]
                if len(rows) >= 200_000:
                    cursor.executemany(insert, rows)
                    rows = []
            cursor.executemany(insert, rows)

    filling, _ = timed(fill)
    pick, samples, root = random.Random(7), [], builder.root()
    for _ in range(2000):
        index = pick.randrange(leaves)
        started = time.perf_counter()
        path = tree.inclusion_proof(index, leaves)
        samples.append((time.perf_counter() - started) * 1000)
        leaf = merkle.leaf_hash(index.to_bytes(8, "big"))
        assert merkle.verify_inclusion(leaf, index, leaves, path, root)
    return {
        "ledger.proof_ms_p50_10m": Measurement(statistics.median(samples), unit="ms", target=2.0),
        "ledger.fill_10m_nodes_seconds": Measurement(filling),
    }
