from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kaohe.integrations.models import Source
from kaohe.org.actions import API_SCOPES, ActionError, do_create_api_key, do_revoke_api_key
from kaohe.org.models import ApiKey, OrgUnit


class Command(BaseCommand):
    help = (
        "API keys for integration clients. `create NAME --scope S [--scope S ...] "
        "[--org-unit CODE ...] [--source CODE ...]` prints the new secret once, alone on "
        "stdout, so scripts can capture it; `list` shows every key without secrets; "
        "`revoke PREFIX` ends a key."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a key and print its secret once")
        create.add_argument("name", help="who uses the key, e.g. crm")
        create.add_argument(
            "--scope", dest="scopes", action="append", required=True, choices=API_SCOPES
        )
        create.add_argument(
            "--org-unit",
            dest="org_units",
            action="append",
            default=[],
            metavar="CODE",
            help="limit the key to this org unit and those below it (repeatable)",
        )
        create.add_argument(
            "--source",
            dest="sources",
            action="append",
            default=[],
            metavar="CODE",
            help="with facts:write, limit the key to facts of this source (repeatable)",
        )
        actions.add_parser("list", help="list keys")
        revoke = actions.add_parser("revoke", help="revoke a key")
        revoke.add_argument("prefix", help="the key's prefix, as `list` shows it")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, name, scopes, org_units, sources, **options):
        units = list(OrgUnit.objects.filter(code__in=org_units))
        unknown = sorted(set(org_units) - {unit.code for unit in units})
        if unknown:
            raise CommandError(f"Unknown org unit: {', '.join(unknown)}")
        known = set(Source.objects.filter(code__in=sources).values_list("code", flat=True))
        if set(sources) - known:
            raise CommandError(f"Unknown source: {', '.join(sorted(set(sources) - known))}")
        try:
            key, secret = do_create_api_key(None, name, scopes, units, sources)
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(secret)
        reach = ", ".join(unit.code for unit in units) or "the whole company"
        self.stderr.write(
            f"Created key {key.name} (prefix {key.prefix}) with {', '.join(key.scopes)} "
            f"for {reach}.\nStore the secret now: it will not be shown again.",
            style_func=self.style.WARNING,
        )

    def _list(self, **options):
        keys = ApiKey.objects.prefetch_related("org_units")
        if not keys:
            self.stdout.write("No API keys.")
            return
        rows = [("PREFIX", "NAME", "SCOPES", "ORG UNITS", "CREATED", "LAST USED", "STATUS")]
        rows += [self._row(key) for key in keys]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )

    def _row(self, key: ApiKey) -> tuple[str, ...]:
        def when(moment):
            return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "never"

        units = ",".join(unit.code for unit in key.org_units.all()) or "*"
        status = f"revoked {when(key.revoked_at)}" if key.revoked_at else "active"
        return (key.prefix, key.name, ",".join(key.scopes), units, when(key.created_at),
                when(key.last_used_at), status)  # fmt: skip

    def _revoke(self, prefix, **options):
        # Accept a pasted secret or its visible start too: kh_<prefix>_...
        prefix = prefix.split("_")[1] if prefix.startswith("kh_") else prefix
        key = ApiKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No API key has the prefix {prefix}.")
        if key.revoked_at is not None:
            self.stdout.write(f"Key {key.name} ({prefix}) was already revoked.")
            return
        do_revoke_api_key(None, key, system=True)
        self.stdout.write(self.style.SUCCESS(f"Revoked key {key.name} ({prefix})."))
