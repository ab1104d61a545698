"""Several processes send overlapping batches of one source at once: each record counts once."""

import subprocess
import sys
from decimal import Decimal

from kaohe.ledger.tests.conftest import SHARED_DB, shared_database  # noqa: F401 (a fixture)
from kaohe.ledger.tests.test_concurrency import run_together
from kaohe.metrics.tests.ingester import OWN, SHARED

pytestmark = SHARED_DB

WRITERS = 4


def child(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kaohe.metrics.tests.ingester", *args],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def test_concurrent_deliveries_of_the_same_records_count_each_once(shared_database):  # noqa: F811
    setup = child(shared_database, "setup")
    out, _ = setup.communicate(timeout=60)
    assert setup.returncode == 0, out

    run_together([child(shared_database, f"w{n}") for n in range(WRITERS)])

    facts, total, count = _figures(shared_database)
    assert facts == SHARED + WRITERS * OWN
    shared_sum = sum(Decimal(f"{i}.01") for i in range(SHARED))
    assert total == (shared_sum + WRITERS * OWN) * 10_000
    assert count == SHARED + WRITERS * OWN


def _figures(env) -> tuple[int, int, int]:
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'kaohe.settings');"
        "django.setup();"
        "from django.db.models import Sum;"
        "from kaohe.metrics.models import Actual, Fact;"
        "a = Actual.objects.aggregate(t=Sum('total_e4'), c=Sum('count'));"
        "print(Fact.objects.count(), a['t'], a['c'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    facts, total, count = done.stdout.split()
    return int(facts), int(total), int(count)
