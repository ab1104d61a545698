from django.core.management.base import BaseCommand, CommandError

from kaohe.cli import checks


class Command(BaseCommand):
    help = (
        "Says what this machine has or lacks for kaohe and how to fix it. Exits non-zero "
        "when a required check (database, migrations, data dir, secret key) fails."
    )
    # The doctor must run on a machine that is not healthy yet.
    requires_system_checks = []

    def handle(self, *args, **options):
        results = checks.run_all()
        width = max(len(r.name) for r in results)
        for result in results:
            self.stdout.write(self._line(result, width))
        blocking = [r.name for r in results if r.blocks_start]
        if blocking:
            raise CommandError(f"kaohe cannot start: {', '.join(blocking)}.")
        self.stdout.write(self.style.SUCCESS("kaohe can start."))

    def _line(self, result: checks.Result, width: int) -> str:
        style = {
            checks.Status.OK: self.style.SUCCESS,
            checks.Status.FAIL: self.style.ERROR,
            checks.Status.WARN: self.style.WARNING,
            checks.Status.NOTE: str,
        }[result.status]
        line = f"{checks.SYMBOLS[result.status]} {result.name:<{width}}  {result.detail}"
        if result.fix and result.status != checks.Status.OK:
            line += f"  → {result.fix}"
        return style(line)
