"""`kaohe seal ca|import|validate`: the company seal of the confirmation letters."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kaohe.signing.seal import SealError, ca_certificate_pem, import_pkcs12, validate_pdf


class Command(BaseCommand):
    help = (
        "The company seal. `ca` prints the CA certificate (PEM) letters are checked "
        "against; `import FILE.p12 [--password-file F]` seals with the company's own "
        "certificate from now on; `validate LETTER.pdf` checks a letter's seal as "
        "`pyhanko sign validate` does, trusting the company CA."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("ca", help="print the CA certificate")
        imported = actions.add_parser("import", help="seal with a PKCS#12 certificate")
        imported.add_argument("file", type=Path)
        imported.add_argument("--password-file", type=Path, help="a file holding the password")
        validate = actions.add_parser("validate", help="check a sealed letter")
        validate.add_argument("file", type=Path)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except (SealError, OSError) as exc:
            raise CommandError(str(exc)) from None

    def _ca(self, **options):
        self.stdout.write(ca_certificate_pem().decode(), ending="")

    def _import(self, file, password_file, **options):
        password = password_file.read_bytes().rstrip(b"\r\n") if password_file else None
        import_pkcs12(file.read_bytes(), password)
        self.stdout.write(f"Letters are sealed with the certificate from {file} from now on.")

    def _validate(self, file, **options):
        valid, report = validate_pdf(file.read_bytes())
        self.stdout.write(report)
        if not valid:
            sys.exit(1)
