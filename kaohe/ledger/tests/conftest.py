import contextlib
import os
import sqlite3

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _ledger_settings(settings):
    """No test asks a timestamping authority unless it says so (each has its own key file:
    kaohe/conftest.py)."""
    settings.KAOHE_TSA_URL = ""
    settings.KAOHE_TSA_ROOTS = None


# For tests whose child processes write: PostgreSQL's test data must be committed to be seen.
SHARED_DB = pytest.mark.django_db(transaction=connection.vendor == "postgresql")


@pytest.fixture
def shared_database(tmp_path, settings):
    """The environment for child processes that write to a database this test can read:
    on PostgreSQL the test database itself (mark the test SHARED_DB so that it runs with
    committed data), on SQLite a file copy of the migrated, empty test database."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        path = tmp_path / "shared.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite%%'"
            )
            schema = [sql for (sql,) in cursor.fetchall()]
        with contextlib.closing(sqlite3.connect(path)) as target:
            target.execute("PRAGMA journal_mode=WAL")  # as `kaohe migrate` leaves it
            for sql in schema:
                target.execute(sql)
            target.commit()
        url = f"sqlite:///{path}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "KAOHE_DATA_DIR": str(tmp_path / "data"),
        "KAOHE_LEDGER_KEY_FILE": str(settings.LEDGER_KEY_FILE),
        "KAOHE_TSA_URL": "",
        "KAOHE_TSA_ROOTS": "",
        "PYTHONUNBUFFERED": "1",
    }
