from django.core.management.base import BaseCommand, CommandError

from kaohe.integrations.models import PullConnector
from kaohe.integrations.pull import MAX_PAGES, run_connector


class Command(BaseCommand):
    help = (
        "Runs the pull connector of SOURCE now: fetches pages from its committed cursor on, "
        "as the scheduler would, and prints what came in. Exits with status 1 on failure "
        "(the cursor stays where the last good page left it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="the source's code")
        parser.add_argument(
            "--max-pages",
            type=int,
            default=MAX_PAGES,
            help=f"at most this many (default {MAX_PAGES})",
        )

    def handle(self, *args, source, max_pages, **options):
        connector = (
            PullConnector.objects.select_related("source").filter(source__code=source).first()
        )
        if connector is None:
            raise CommandError(f"Source {source} has no pull connector.")
        if not connector.active or not connector.source.active:
            raise CommandError(f"The source {source} or its pull connector is switched off.")
        run = run_connector(connector, max_pages=max(1, max_pages))
        if run.busy:
            raise CommandError(f"Another run of {source} is in progress; try again later.")
        counts = ", ".join(f"{n} {name}" for name, n in run.counts.items()) or "nothing"
        self.stdout.write(f"{source}: {run.pages} page(s), {counts}, {run.skipped} skipped.")
        self.stdout.write(f"Next cursor: {run.cursor or '(start)'}")
        if run.more:
            self.stdout.write("More pages remain; the scheduler continues right away.")
        if run.error:
            raise CommandError(f"{source}: {run.error}")
