import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PR_SET_PDEATHSIG = 1


class Command(BaseCommand):
    help = (
        "Starts kaohe: the web server, the task worker and the scheduler, with their output "
        "interleaved. Ctrl-C or SIGTERM stops all three; if one dies, the others are stopped."
    )
    requires_system_checks = []  # the web server runs them

    def add_arguments(self, parser):
        parser.add_argument(
            "--addr",
            default=os.environ.get("KAOHE_ADDR") or "127.0.0.1:8000",
            help="address of the web server (default $KAOHE_ADDR or 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=10.0,
            help="seconds to wait after SIGTERM before killing a child (default 10)",
        )

    def handle(self, *args, addr: str, stop_timeout: float, **options):
        supervisor = Supervisor(self.stdout, stop_timeout)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, supervisor.request_stop)
        supervisor.start(
            web=web_command(addr),
            worker=["-m", "kaohe", "db_worker", "--no-reload"],
            scheduler=["-m", "kaohe", "scheduler"],
        )
        died = supervisor.wait()
        if died:
            raise CommandError(f"{died} exited; stopped the others.")


def web_command(addr: str) -> list[str]:
    """Django's development server, or gunicorn when KAOHE_ENV=production."""
    if not settings.PRODUCTION:
        return ["-m", "kaohe", "runserver", addr, "--noreload"]
    workers = os.environ.get("KAOHE_WEB_WORKERS") or "3"
    return ["-m", "gunicorn", "kaohe.wsgi:application", "--bind", addr,
            "--workers", workers, "--access-logfile", "-"]  # fmt: skip


class Supervisor:
    """Runs named Python commands as children and relays their output line by line."""

    def __init__(self, out, stop_timeout: float) -> None:
        self.out, self.stop_timeout = out, stop_timeout
        self.children: dict[str, subprocess.Popen] = {}
        self.stop_requested = threading.Event()
        self.lock = threading.Lock()
        self.pumps: list[threading.Thread] = []
        self.width = len("scheduler")

    def say(self, name: str, text: str) -> None:
        with self.lock:
            self.out.write(f"{name:<{self.width}} | {text}")
            self.out.flush()

    def start(self, **commands: list[str]) -> None:
        # All children first, then the output threads: forking while other threads run is
        # what `preexec_fn` must not do.
        for name, argv in commands.items():
            self.children[name] = subprocess.Popen(
                [sys.executable, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                text=True,
                encoding="utf-8",
                errors="replace",
                # Own session: Ctrl-C in the terminal reaches only us, and we stop the
                # children once, in order, instead of all of them reacting at once.
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: no other threads yet (see above)
            )
            self.say("run", f"started {name} (pid {self.children[name].pid}): {' '.join(argv)}")
        for name, child in self.children.items():
            pump = threading.Thread(target=self._relay, args=(name, child), daemon=True)
            pump.start()
            self.pumps.append(pump)

    def _relay(self, name: str, child: subprocess.Popen) -> None:
        for line in child.stdout:
            self.say(name, line.rstrip("\n"))

    def request_stop(self, signum, frame) -> None:
        if self.stop_requested.is_set():  # pressed twice: the user will not wait any longer
            for child in self.children.values():
                child.kill()
        self.stop_requested.set()

    def wait(self) -> str | None:
        """Blocks until a stop is requested or a child exits; stops all. Returns the name of
        the child that exited on its own, or None after a requested stop."""
        died = None
        while died is None and not self.stop_requested.wait(0.2):
            died = next((n for n, c in self.children.items() if c.poll() is not None), None)
        if died:
            self.say("run", f"{died} exited with code {self.children[died].returncode}")
        self.say("run", "stopping")
        self.stop_all()
        self.say("run", "stopped")
        return died

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for name, child in self.children.items():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("run", f"{name} did not stop in {self.stop_timeout:g} s; killing it")
                child.kill()
                child.wait()
        for pump in self.pumps:
            pump.join(timeout=1)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `kaohe run` itself is killed without a chance to
    stop it (kill -9, OOM), so no orphan keeps holding the port."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
