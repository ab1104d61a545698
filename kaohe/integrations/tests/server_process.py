"""A real kaohe server process for the kill-and-retry tests, run as

    python -m kaohe.integrations.tests.server_process setup            # prints an API key
    python -m kaohe.integrations.tests.server_process serve PORT [PAUSE MARKER]
    python -m kaohe.integrations.tests.server_process dump             # prints the facts

against the database named by DATABASE_URL. With PAUSE, the first accepted batch stops
`before_commit` (inside the transaction, after the facts and the log are written) or
`after_commit` (committed, before the response is sent), writes MARKER and waits to be
killed, so a test can kill -9 the server at a known point of the request.
"""

import json
import os
import sys
import time
from pathlib import Path

LEASE_SECONDS = 1  # how long a lost Idempotency-Key claim blocks retries here


def setup() -> None:
    from django.core.management import call_command
    from django.db import connections

    from kaohe.integrations.tests.factories import make_source
    from kaohe.metrics.testing import make_sales_metrics
    from kaohe.org.actions import do_create_api_key
    from kaohe.org.testing import make_cast

    call_command("migrate", verbosity=0, interactive=False)
    make_cast()
    make_sales_metrics()
    make_source("crm")
    _key, secret = do_create_api_key(None, "crm-sync", ["facts:write"])
    print(json.dumps({"key": secret}))
    connections.close_all()  # SQLite folds its WAL back in: the file can be copied


def serve(port: str, pause: str = "", marker: str = "") -> None:
    import datetime as dt

    from django.core.management import call_command

    from kaohe.integrations import api, idempotency

    idempotency.IN_FLIGHT_LEASE = dt.timedelta(seconds=LEASE_SECONDS)
    if pause:
        _pause_first_batch(api, pause, Path(marker))
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)


def _pause_first_batch(api, pause: str, marker: Path) -> None:
    from django.db import transaction

    original = api.record_delivery

    def wait_to_be_killed():
        marker.write_text(pause)
        time.sleep(600)

    def record_then_pause(*args, **kwargs):
        delivery = original(*args, **kwargs)
        if kwargs.get("result") is not None and not marker.exists():
            if pause == "before_commit":
                wait_to_be_killed()
            else:
                transaction.on_commit(wait_to_be_killed)
        return delivery

    api.record_delivery = record_then_pause


def dump() -> None:
    from kaohe.integrations.models import Delivery
    from kaohe.metrics.models import Actual, Fact

    cells = Actual.objects.order_by("employee__employee_no", "month").values_list(
        "employee__employee_no", "month", "total_e4", "count"
    )
    print(json.dumps({
        "facts": Fact.objects.count(),
        "actuals": [[no, month.isoformat(), total, count] for no, month, total, count in cells],
        "deliveries": Delivery.objects.filter(http_status=200).count(),
    }))  # fmt: skip


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaohe.settings")
    import django

    django.setup()
    command, *args = argv
    {"setup": setup, "serve": serve, "dump": dump}[command](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
