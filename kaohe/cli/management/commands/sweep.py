import datetime as dt
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from kaohe.alerts.models import Rule
from kaohe.alerts.sweep import SweepResult, active_rules, sweep, sweep_rule
from kaohe.lib import clock
from kaohe.org.models import Company


class Dry(Exception):
    """Rolls the dry run's transaction back once its counts are known."""


class Command(BaseCommand):
    help = (
        "Sweeps the warning rules now, or as of the end of --as-of DATE in the company's "
        "timezone (replaying history): raises alerts for what the rules find, resolves those "
        "whose condition no longer holds and escalates unacknowledged ones (not with --rule); "
        "prints the counts. --dry-run counts without keeping anything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="sweep as of the end of this day")
        parser.add_argument(
            "--rule", action="append", metavar="CODE", help="only this rule (repeatable)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, keep nothing"
        )

    def handle(self, *args, as_of: str | None, rule: list[str] | None, dry_run: bool, **options):
        now = self._moment(as_of)
        rules = self._rules(rule, now) if rule else None
        result = self._dry_run(now, rules) if dry_run else self._sweep(now, rules, deliver=True)
        when = f"as of {now.isoformat()}" if as_of else "now"
        prefix = "Dry run, nothing kept: would have " if dry_run else ""
        self.stdout.write(
            f"{prefix}{len(result.raised)} raised, {result.resolved} resolved, "
            f"{result.escalated} escalated ({result.rules} rules swept {when})."
        )

    def _moment(self, as_of: str | None) -> dt.datetime:
        """The last instant of the day in the company's timezone (now when no day)."""
        if as_of is None:
            return clock.now()
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise CommandError(f"--as-of {as_of!r} is not a date like 2026-03-31.") from None
        tz = ZoneInfo(Company.get().timezone)
        now = clock.now()
        if day > now.astimezone(tz).date():
            raise CommandError(f"--as-of {as_of} lies in the future.")
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return min(end - dt.timedelta(microseconds=1), now)  # today: as of now

    def _rules(self, codes: list[str], now: dt.datetime) -> list[Rule]:
        unknown = sorted(set(codes) - set(Rule.objects.filter(code__in=codes).values_list(
            "code", flat=True)))  # fmt: skip
        if unknown:
            raise CommandError(f"No such rule: {', '.join(unknown)}.")
        active = [r for r in active_rules(now) if r.code in codes]
        idle = sorted(set(codes) - {r.code for r in active})
        if idle:
            raise CommandError(f"Not active then: {', '.join(idle)}.")
        return active

    def _dry_run(self, now: dt.datetime, rules: list[Rule] | None) -> SweepResult:
        """The sweep in a transaction rolled back: exact counts, nothing kept or sent."""
        try:
            with transaction.atomic():
                result = self._sweep(now, rules, deliver=False)
                raise Dry
        except Dry:
            return result

    def _sweep(self, now: dt.datetime, rules: list[Rule] | None, deliver: bool) -> SweepResult:
        if rules is None:
            return sweep(now, deliver=deliver)
        result = SweepResult()
        for rule in rules:
            result.add(sweep_rule(rule, now))
        if result.raised and deliver:
            from kaohe.alerts.tasks import deliver_task

            ids = list(result.raised)
            transaction.on_commit(lambda: deliver_task.enqueue(ids))
        return result
