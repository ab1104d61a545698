"""A writer process for the concurrency test: `python -m kaohe.metrics.tests.ingester setup`
creates the test company and its metrics; `... ingester NAME` says "ready", waits for a line
on stdin (so that all writers start together), then sends the shared batch and a batch of
its own, each as one ingest."""

import os
import sys

SHARED, OWN = 300, 50


def deal(external_id: str, value: str, day: int) -> dict:
    return {"external_id": external_id, "employee": "E0003", "metric": "sales_amount",
            "value": value, "occurred_at": f"2026-01-{day:02d}T10:00:00+08:00"}  # fmt: skip


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaohe.settings")
    import django

    django.setup()
    from kaohe.metrics.ingest import ingest_facts

    if argv == ["setup"]:
        from kaohe.metrics.testing import make_sales_metrics
        from kaohe.org.testing import make_cast

        make_cast()
        make_sales_metrics()
        return
    name = argv[0]
    print("ready", flush=True)
    sys.stdin.readline()
    shared = [deal(f"S-{i}", f"{i}.01", 1 + i % 28) for i in range(SHARED)]
    own = [deal(f"{name}-{i}", "1.00", 1 + i % 28) for i in range(OWN)]
    for batch in (shared, own):
        result = ingest_facts("crm", batch, None)
        assert not result.rejected, result.rejected
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
