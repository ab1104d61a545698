"""`make bench`: runs kaohe's benchmarks on a fresh SQLite database.

    python bench/run.py [NAME ...]    # all benchmarks, or those whose name starts so

Every run creates a new database under $KAOHE_DATA_DIR (default var/bench), migrates it,
runs the benchmarks registered in bench/benchmarks/, writes bench/results.json (a list
of {name, value, unit, baseline, ratio, target, ok}) and prints a table. Exits 1 when a
measurement misses its target or a benchmark fails.
"""

import json
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def prepare_database() -> Path:
    """Points Django at a new, empty SQLite file and returns the scratch directory."""
    scratch = ROOT / os.environ.get("KAOHE_DATA_DIR", "var/bench")  # absolute paths win
    scratch.mkdir(parents=True, exist_ok=True)
    database = scratch / "bench.sqlite3"
    for leftover in (database, *scratch.glob("bench.sqlite3-*")):
        leftover.unlink(missing_ok=True)
    os.environ["KAOHE_DATA_DIR"] = str(scratch)
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "kaohe.settings"
    os.environ.setdefault("KAOHE_LOG_LEVEL", "WARNING")
    return scratch


def setup_django() -> None:
    import django

    django.setup()


def fresh_database() -> None:
    """An empty, migrated database for each benchmark, so none sees another's rows."""
    from django.core.management import call_command
    from django.db import connections

    from kaohe.ledger import witness

    connections.close_all()
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    for leftover in (database, *database.parent.glob(database.name + "-*")):
        leftover.unlink(missing_ok=True)
    witness.path().unlink(missing_ok=True)  # the copy of a checkpoint of the old log
    call_command("migrate", verbosity=0, interactive=False)


def run(selected: list[str], scratch: Path) -> tuple[list[dict], list[str]]:
    from benchmarks import discover

    results, failures = [], []
    for name, func in discover().items():
        if selected and not any(name.startswith(prefix) for prefix in selected):
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            fresh_database()
            measurements = func(scratch)
        except Exception:
            traceback.print_exc()
            failures.append(name)
            continue
        results += [m.as_json(label) for label, m in measurements.items()]
    return results, failures


def print_table(results: list[dict]) -> None:
    header = ("measurement", "value", "baseline", "ratio", "target", "ok")
    rows = [header] + [
        (
            r["name"],
            f"{r['value']:.3f} {r['unit']}",
            "—" if r["baseline"] is None else f"{r['baseline']:.3f} {r['unit']}",
            "—" if r["ratio"] is None else f"{r['ratio']:.2f}x",
            "—"
            if r["target"] is None
            else f"{'≥' if r['target_is'] == 'minimum' else '≤'} {r['target']}",
            "ok" if r["ok"] else "MISSED",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: list[str]) -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    scratch = prepare_database()
    setup_django()
    results, failures = run(argv, scratch)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_table(results)
    for name in failures:
        print(f"FAILED: {name}", file=sys.stderr)
    return 1 if failures or not all(r["ok"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
