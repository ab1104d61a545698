"""What this machine has or lacks for kaohe, one small function per capability.

Each check returns a `Result` with the fix to run when something is missing; `kaohe doctor`
prints them. Only the database, the data directory and the secret key are required to start.
"""

import enum
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor


class Status(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"
    WARN = "warn"
    NOTE = "note"


SYMBOLS = {Status.OK: "✓", Status.FAIL: "✗", Status.WARN: "!", Status.NOTE: "·"}


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = False

    @property
    def blocks_start(self) -> bool:
        return self.required and self.status == Status.FAIL


FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)
CJK_FONT = re.compile(r"^Noto(Sans|Serif)CJK.*\.(ttc|otf)$", re.IGNORECASE)
POPPLER_DATA = Path("/usr/share/poppler/cMap")
BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
NON_SENDING_EMAIL = {"console", "locmem", "dummy", "filebased"}


def check_database(conn=connection) -> Result:
    try:
        conn.ensure_connection()
        version = ".".join(str(part) for part in conn.get_database_version())
    except DatabaseError as exc:
        return Result(
            "database", Status.FAIL, f"cannot connect: {' '.join(str(exc).split())[:200]}",
            fix=_database_fix(conn, str(exc)), required=True,
        )  # fmt: skip
    return Result("database", Status.OK, f"{conn.display_name} {version}, {_where(conn)}")


def _where(conn) -> str:
    db = conn.settings_dict
    if conn.vendor == "sqlite":
        return str(db["NAME"])
    host = f"{db.get('HOST') or 'local socket'}{':' + str(db['PORT']) if db.get('PORT') else ''}"
    return f"database {db['NAME']} on {host}"  # never the password


def _database_fix(conn, error: str) -> str:
    if conn.vendor == "sqlite":
        return f"make sure {Path(conn.settings_dict['NAME']).parent} exists and is writable"
    if "does not exist" in error:
        return (
            f"createdb {conn.settings_dict['NAME']} (as a PostgreSQL superuser), then kaohe migrate"
        )
    return f"start the database server or correct DATABASE_URL ({_where(conn)})"


def check_migrations(conn=connection) -> Result:
    try:
        executor = MigrationExecutor(conn)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return Result("migrations", Status.FAIL, f"cannot read: {exc}", "kaohe migrate", True)
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _backwards in plan[:3])
        more = f" and {len(plan) - 3} more" if len(plan) > 3 else ""
        detail = f"{len(plan)} not applied ({names}{more})"
        return Result("migrations", Status.FAIL, detail, fix="kaohe migrate", required=True)
    return Result("migrations", Status.OK, "all applied")


def check_data_dir(path: Path | None = None) -> Result:
    path = Path(path or settings.DATA_DIR)
    fix = f"mkdir -p {path} and give it to this user, or point KAOHE_DATA_DIR elsewhere"
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Result("data dir", Status.FAIL, f"{path} is not writable: {exc.strerror}", fix, True)
    return Result("data dir", Status.OK, f"{path} (KAOHE_DATA_DIR) is writable")


def check_secret_key(environ: Mapping[str, str] = os.environ, data_dir=None) -> Result:
    generated = Path(data_dir or settings.DATA_DIR) / "secret_key"
    fix = (
        "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > /etc/kaohe/secret_key"
        " && chmod 600 /etc/kaohe/secret_key && export KAOHE_SECRET_KEY_FILE=/etc/kaohe/secret_key"
    )
    if environ.get("KAOHE_SECRET_KEY"):
        return _secret_strength(environ["KAOHE_SECRET_KEY"], "from KAOHE_SECRET_KEY", fix)
    if environ.get("KAOHE_SECRET_KEY_FILE"):
        return _secret_file(Path(environ["KAOHE_SECRET_KEY_FILE"]), "KAOHE_SECRET_KEY_FILE", fix)
    if generated.exists() and not settings.PRODUCTION:
        return _secret_file(generated, "generated on first start", fix)
    return Result("secret key", Status.FAIL, "none set", fix, required=True)


def _secret_file(path: Path, source: str, fix: str) -> Result:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return Result("secret key", Status.FAIL, f"{path}: {exc.strerror}", fix, True)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Result(
            "secret key", Status.WARN, f"{path} is readable by others", f"chmod 600 {path}"
        )
    return _secret_strength(value, f"{source}, {path}", fix)


def _secret_strength(value: str, source: str, fix: str) -> Result:
    if len(value) < 32:
        return Result("secret key", Status.WARN, f"{source}: shorter than 32 characters", fix)
    return Result("secret key", Status.OK, source)


def check_cjk_font(dirs: Iterable[Path] = FONT_DIRS) -> Result:
    """Chinese text in PDFs needs a CJK font to embed; Noto Sans/Serif CJK is the one used."""
    found = _find_font(dirs)
    if found is None:
        return Result(
            "CJK font", Status.FAIL, "no Noto Sans/Serif CJK font: PDFs cannot show Chinese",
            fix="apt-get install fonts-noto-cjk",
        )  # fmt: skip
    return Result("CJK font", Status.OK, str(found))


def _find_font(dirs: Iterable[Path]) -> Path | None:
    found = [
        Path(root) / name
        for base in dirs
        for root, _subdirs, files in os.walk(base)
        for name in files
        if CJK_FONT.match(name)
    ]
    # The regular weight is the one a document's body text uses.
    return min(found, key=lambda p: ("Regular" not in p.name, str(p)), default=None)


def check_pdftotext(which: Callable[[str], str | None] = shutil.which, data=POPPLER_DATA):
    fix = "apt-get install poppler-utils poppler-data"
    tool = which("pdftotext")
    if tool is None:
        return Result("pdftotext", Status.FAIL, "pdftotext not found (PDF text checks)", fix)
    if not Path(data).is_dir():
        return Result("pdftotext", Status.FAIL, f"{tool}, but poppler-data is missing", fix)
    return Result("pdftotext", Status.OK, f"{_pdftotext_version(tool)}, poppler-data")


def _pdftotext_version(tool: str) -> str:
    try:
        out = subprocess.run([tool, "-v"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return tool
    first = (out.stderr or out.stdout).strip().splitlines()
    return first[0] if first else tool


def check_browser(candidates: Iterable[str] = BROWSERS, which=shutil.which) -> Result:
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None
        path = path or (None if os.path.isabs(candidate) else which(candidate))
        if path:
            return Result("browser", Status.OK, f"{path} (browser tests)")
    return Result(
        "browser", Status.FAIL, "no Chromium: browser tests are skipped",
        fix="apt-get install chromium",
    )  # fmt: skip


def check_email(backend: str | None = None, production: bool | None = None) -> Result:
    backend = backend or settings.EMAIL_BACKEND
    production = settings.PRODUCTION if production is None else production
    kind = backend.rsplit(".", 2)[-2] if backend.count(".") >= 2 else backend
    if kind in NON_SENDING_EMAIL:
        if production:
            return Result(
                "email", Status.WARN, f"{kind} backend in production: no mail leaves this machine",
                fix="set KAOHE_EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend "
                "and KAOHE_EMAIL_HOST",
            )  # fmt: skip
        return Result("email", Status.OK, f"{kind} backend (development: mail is not sent)")
    if kind == "smtp":
        return Result("email", Status.OK, f"SMTP via {settings.EMAIL_HOST}:{settings.EMAIL_PORT}")
    return Result("email", Status.OK, backend)


def ledger_key_path() -> Path:
    configured = os.environ.get("KAOHE_LEDGER_KEY_FILE") or getattr(
        settings, "KAOHE_LEDGER_KEY_FILE", None
    )
    return Path(configured) if configured else settings.DATA_DIR / "keys" / "ledger-ed25519.pem"


def check_ledger_key(path: Path | None = None) -> Result:
    path = Path(path or ledger_key_path())
    if not path.exists():
        return Result(
            "ledger key", Status.NOTE, f"{path}: not created yet (created on first start)"
        )
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Result(
            "ledger key", Status.WARN, f"{path} is readable by others", f"chmod 600 {path}"
        )
    return Result("ledger key", Status.OK, str(path))


def run_all() -> list[Result]:
    results = [check_database()]
    if results[0].status == Status.OK:
        results.append(check_migrations())
    else:
        results.append(
            Result("migrations", Status.FAIL, "unknown: no database", "kaohe migrate", True)
        )
    for check in (
        check_data_dir, check_secret_key, check_cjk_font, check_pdftotext, check_browser,
        check_email, check_ledger_key,
    ):  # fmt: skip
        results.append(check())
    return results
