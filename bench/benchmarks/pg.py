"""Running part of a benchmark on PostgreSQL: in a child process, on a scratch database
created on the server of KAOHE_BENCH_PG_URL (`make bench` points it at the test server)
and dropped afterwards. The child prints its figures as one JSON line."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/kaohe"


def run_child(scratch: Path, module: str, database: str) -> dict:
    """Runs `python -m benchmarks.<module> postgres` against a new database `database`."""
    server = os.environ.get("KAOHE_BENCH_PG_URL") or DEFAULT_SERVER
    url = with_database(server, database)
    admin(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin(server, f'CREATE DATABASE "{database}"')
    env = {**os.environ, "DATABASE_URL": url, "KAOHE_DATA_DIR": str(scratch / database),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")])}  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", "postgres"],
            cwd=ROOT / "bench", env=env, stdout=subprocess.PIPE, check=True,
        )  # fmt: skip
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def setup_child() -> None:
    """In the child: Django on the scratch database, migrated."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "kaohe.settings"
    os.environ.setdefault("KAOHE_LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as connection:
        connection.execute(sql)
