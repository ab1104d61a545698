"""A writer process for the concurrency tests: `python -m kaohe.ledger.tests.appender NAME N`
says "ready", waits for a line on stdin (so that all writers start together), then appends N
entries, each in its own transaction. With --hold it appends one entry, says "holding" and
sleeps inside the transaction, still holding the log, until it is killed."""

import os
import sys
import time


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaohe.settings")
    import django

    django.setup()
    from django.db import transaction

    from kaohe.ledger.log import append

    name, count = argv[0], int(argv[1])
    if argv[2:] == ["--hold"]:
        with transaction.atomic():
            append("test.held", {"writer": name}, "test", {})
            print("holding", flush=True)
            time.sleep(60)
        return
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the test gave up on this writer
        return
    for n in range(count):
        with transaction.atomic():
            append("test.concurrent", {"writer": name, "n": str(n)}, "test", {"n": n})
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
