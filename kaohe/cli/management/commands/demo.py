import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from kaohe.alerts import demo as alerts_demo
from kaohe.integrations.actions import do_create_source
from kaohe.integrations.models import Source
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.metrics import demo as metrics_demo
from kaohe.org import demo
from kaohe.org.evidence import record
from kaohe.reviews import demo as reviews_demo

# Below this many employees a progress bar would only flicker.
PROGRESS_FROM = 5000
MAX_EMPLOYEES = 1_000_000


class Command(BaseCommand):
    help = (
        "Loads the demo company (the reference story, about 60 people, logins with the "
        f"password {demo.DEMO_PASSWORD!r}), or with --employees N a synthetic company of N "
        "people; then the demo metrics, this year's and this quarter's target agreements of "
        "the sales force and a few months of their facts. Loads only what is missing, so a "
        "second run changes nothing; refused in production."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--employees", type=int, help="generate a synthetic company of this many people"
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=1,
            help="seed of the synthetic company and of the demo facts (default 1)",
        )

    def handle(self, *args, employees: int | None, seed: int, **options):
        self._refuse_unless_safe(employees)
        if demo.is_loaded():
            self.stdout.write("demo company already loaded")
        else:
            self._load_company(employees, seed, options["verbosity"])
        self._load_metrics(seed)
        self._load_reviews()

    def _load_company(self, employees: int | None, seed: int, verbosity: int) -> None:
        started = time.perf_counter()
        spec = (
            demo.story_company() if employees is None else demo.synthetic_company(employees, seed)
        )
        taken = demo.taken_usernames(spec)
        if taken:
            raise CommandError(f"These users already exist: {', '.join(taken)}; demo not loaded.")
        with tqdm(
            total=2 * len(spec.people),
            desc="employees, placements",
            unit="row",
            file=sys.stderr,
            disable=len(spec.people) < PROGRESS_FROM or verbosity == 0,
        ) as progress:
            demo.load(spec, progress)
        self._record(spec, employees, seed)
        elapsed = time.perf_counter() - started
        self._report(spec, elapsed)

    def _load_metrics(self, seed: int) -> None:
        """Metrics, targets and facts through the actions and the ingest, as HR and the
        company's systems would enter them; what exists already is kept."""
        admin = metrics_demo.hr_admin()
        if admin is None:
            self.stdout.write("no HR admin among the demo logins: metrics not loaded")
            return
        for code, name in metrics_demo.source_names().items():
            if not Source.objects.filter(code=code).exists():
                do_create_source(admin, code, name)
        loaded = metrics_demo.load(seed)
        self.stdout.write(
            f"Metrics: {loaded.metrics} defined, {loaded.agreements} target agreements "
            f"published, {loaded.facts:,} facts new or changed, {loaded.facts_kept:,} already "
            "there."
        )
        rules = alerts_demo.load_rules(admin)
        swept = alerts_demo.sweep_and_tell()
        make_checkpoint()  # only if the log grew
        self.stdout.write(
            f"Warnings: {rules} rules saved, {len(swept.raised)} alerts raised, "
            f"{swept.resolved} resolved."
        )

    def _load_reviews(self) -> None:
        loaded = reviews_demo.load()
        make_checkpoint()
        self.stdout.write(
            f"Assessments: {loaded.cycles} cycles created, {loaded.published} results "
            f"published, the director's result {'signed' if loaded.signed else 'as it was'}."
        )

    def _record(self, spec, employees: int | None, seed: int) -> None:
        """The evidence log says the people are demo data, and signs its first checkpoint."""
        payload = {"employees": len(spec.people), "synthetic": employees is not None,
                   "seed": seed if employees is not None else None}  # fmt: skip
        with transaction.atomic():
            record("org.demo.loaded", None, payload)
        make_checkpoint(force=True)

    def _refuse_unless_safe(self, employees: int | None) -> None:
        if settings.KAOHE_ENV == "production":
            raise CommandError("The demo company is never loaded in production (KAOHE_ENV).")
        if employees is not None and not 1 <= employees <= MAX_EMPLOYEES:
            raise CommandError(f"--employees must be between 1 and {MAX_EMPLOYEES:,}.")
        if not demo.is_loaded() and demo.has_other_data():
            raise CommandError(
                "This database already holds org units or employees; the demo company "
                "loads only into an empty one."
            )

    def _report(self, spec: demo.CompanySpec, elapsed: float) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {demo.COMPANY_NAME}: {len(spec.people):,} employees in "
                f"{len(spec.units):,} org units in {elapsed:.1f} s."
            )
        )
        if spec.logins:
            self.stdout.write(f"Demo logins (password {demo.DEMO_PASSWORD}):")
        for login in sorted(spec.logins, key=lambda login: demo.LOGINS.index(login.username)):
            person = spec.people[login.person]
            role = f"{login.role} {login.scope or ''}".strip() if login.role else ""
            self.stdout.write(
                f"  {login.username:<10} {person.name} {person.employee_no} "
                f"{person.position} {role}".rstrip()
            )
