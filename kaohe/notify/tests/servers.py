"""Local stand-ins for the receivers: an HTTP server that plays a robot platform or a webhook
receiver (checks what arrives, answers as told), and an SMTP server process."""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


# A judge looks at a request and returns (HTTP status, JSON answer).
Judge = Callable[[Received], tuple[int, dict]]


@dataclass
class Receiver:
    judge: Judge
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?key=k-123"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        parts = urllib.parse.urlsplit(handler.path)
        request = Received(
            parts.path, dict(urllib.parse.parse_qsl(parts.query)), dict(handler.headers),
            handler.rfile.read(length),
        )  # fmt: skip
        self.received.append(request)
        status, answer = self.judge(request)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def start(judge: Judge) -> Receiver:
    receiver = Receiver(judge)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            receiver.handle(self)

        def log_message(self, *args):
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def stop(receiver: Receiver) -> None:
    assert receiver.server is not None
    receiver.server.shutdown()
    receiver.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpServer:
    """`python -m aiosmtpd` in its own process, writing each message into `folder`."""

    port: int
    folder: Path
    process: subprocess.Popen

    def messages(self) -> list:
        files = sorted(self.folder.glob("*.eml"))
        return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


SMTP_HANDLER = """
import sys
from pathlib import Path
from aiosmtpd.controller import Controller

class Keep:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Keep.count += 1
        path = Path(sys.argv[2]) / f"{Keep.count:04d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 OK"

controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


def start_smtp(folder: Path) -> SmtpServer:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SMTP_HANDLER, str(port), str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    return SmtpServer(port, folder, process)


def stop_smtp(server: SmtpServer) -> None:
    assert server.process.stdin is not None
    server.process.stdin.close()
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.process.kill()


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
