import datetime as dt
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from kaohe.cli.schedule import JOBS, Lease, Scheduler


class Command(BaseCommand):
    help = (
        "Enqueues the periodic jobs when they are due, every --interval seconds, until "
        "SIGTERM or Ctrl-C. Several may run: one leader enqueues (a lease in the database), "
        "the others stand by and take over when it stops (kaohe run starts one)."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=30.0, help="seconds between ticks (default 30)"
        )
        parser.add_argument("--once", action="store_true", help="run the due jobs once and exit")

    def handle(self, *args, interval: float, once: bool, **options):
        # The lease outlives a few ticks, so a slow tick does not hand it over.
        scheduler = Scheduler(lease=Lease(ttl=dt.timedelta(seconds=max(90.0, 3 * interval))))
        if once:
            self._tick(scheduler)
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"scheduler started: {len(JOBS)} jobs, a tick every {interval:g} s")
        while not stop.is_set():
            # A long-lived process: drop connections the server closed or that grew old.
            close_old_connections()
            self._tick(scheduler)
            close_old_connections()
            stop.wait(interval)
        if scheduler.leading:
            scheduler.lease.release()  # the standby need not wait for the lease to expire
        self.stdout.write("scheduler stopped")

    def _tick(self, scheduler: Scheduler) -> None:
        for name, enqueued in scheduler.run_due():
            if enqueued:
                self.stdout.write(f"enqueued {name}")
