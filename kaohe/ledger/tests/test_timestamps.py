"""RFC 3161 timestamps on checkpoints, against a timestamping authority on 127.0.0.1."""

import datetime as dt
import hashlib
import http.server
import socket
import threading

import pytest
import time_machine
from asn1crypto import tsp
from django.core.management import CommandError, call_command
from pyhanko.sign.timestamps import DummyTimeStamper

from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, TimestampStatus
from kaohe.ledger.tasks import checkpoint_task
from kaohe.ledger.timestamps import stamp, stamp_owed, token_info, token_time
from kaohe.lib.tests.tsa import ThrowawayTSA, with_altered_signature, with_altered_time
from kaohe.lib.tests.tsa import authority as throwaway_authority

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dummy_tsa() -> ThrowawayTSA:
    """A throwaway CA and the TSA certificate it issued, as pyHanko's test authority."""
    return throwaway_authority("Test")


class Authority:
    """An RFC 3161 responder over HTTP on 127.0.0.1, in a thread; it can go down and up."""

    def __init__(self, stamper: DummyTimeStamper) -> None:
        self.stamper, self.requests = stamper, 0
        with socket.socket() as probe:  # a free port, kept while the server is down
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: http.server.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    def start(self) -> None:
        authority = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = tsp.TimeStampReq.load(
                    self.rfile.read(int(self.headers["Content-Length"]))
                )
                response = authority.stamper.request_tsa_response(request).dump()
                authority.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(response)))
                self.end_headers()
                self.wfile.write(response)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def authority(dummy_tsa, settings):
    tsa = Authority(dummy_tsa.stamper)
    settings.KAOHE_TSA_URL = tsa.url
    yield tsa
    tsa.stop()


def test_a_checkpoint_gets_a_token_over_its_signed_bytes(
    authority, django_capture_on_commit_callbacks
):
    authority.start()
    append("result.signed", {"employee": "E1"}, "user:1:a", {})
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint()
    checkpoint.refresh_from_db()
    assert checkpoint.timestamp_status == TimestampStatus.STAMPED
    assert (checkpoint.timestamp_attempts, checkpoint.timestamp_error) == (1, "")
    imprint = token_info(bytes(checkpoint.timestamp_token))["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == "sha256"
    assert imprint["hashed_message"].native == hashlib.sha256(checkpoint.body.encode()).digest()
    assert abs(
        token_time(bytes(checkpoint.timestamp_token)) - checkpoint.created_at
    ) < dt.timedelta(minutes=1)
    assert "timestamp" in as_document(checkpoint)
    assert check_log().ok


def test_an_unreachable_authority_is_recorded_and_retried_never_replaced_by_our_clock(
    authority, django_capture_on_commit_callbacks, caplog
):
    append("result.signed", {"employee": "E1"}, "user:1:a", {})
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint()
    checkpoint.refresh_from_db()
    assert checkpoint.timestamp_status == TimestampStatus.FAILED
    assert checkpoint.timestamp_attempts == 1
    assert "timestamp service" in checkpoint.timestamp_error
    assert checkpoint.timestamp_token is None
    assert "timestamp" not in as_document(checkpoint)
    assert f"RFC 3161 timestamp for checkpoint {checkpoint.pk} failed" in caplog.text

    assert stamp_owed() == 0, "still down"
    authority.start()
    assert checkpoint_task.enqueue().return_value is None  # nothing new to sign; retries
    checkpoint.refresh_from_db()
    assert (checkpoint.timestamp_status, checkpoint.timestamp_attempts) == ("stamped", 3)
    assert checkpoint.timestamp_error == ""
    assert authority.requests == 1


def test_retries_stop_at_the_first_failure_while_the_authority_is_away(authority):
    append("result.signed", {"employee": "E1"}, "user:1:a", {})
    for size in (1, 1, 1):
        Checkpoint.objects.create(
            tree_size=size, root_hash="0" * 64, created_at=dt.datetime.now(dt.UTC), key_id="k",
            body="{}", signature="s", timestamp_status=TimestampStatus.PENDING,
        )  # fmt: skip
    assert stamp_owed() == 0
    attempts = sorted(Checkpoint.objects.values_list("timestamp_attempts", flat=True))
    assert attempts == [0, 0, 1]


def stamped_checkpoint(authority, capture) -> Checkpoint:
    authority.start()
    append("result.signed", {"employee": "E1"}, "user:1:a", {})
    with capture(execute=True):
        checkpoint = make_checkpoint()
    checkpoint.refresh_from_db()
    return checkpoint


@pytest.fixture
def roots_file(tmp_path, settings):
    """Names a PEM bundle in settings.KAOHE_TSA_ROOTS; returns the function that writes it."""

    def write(pem: bytes):
        path = tmp_path / "tsa-roots.pem"
        path.write_bytes(pem)
        settings.KAOHE_TSA_ROOTS = path
        return path

    return write


def test_a_token_chaining_to_the_configured_roots_is_kept(
    authority, dummy_tsa, roots_file, django_capture_on_commit_callbacks
):
    roots_file(dummy_tsa.ca_pem)
    checkpoint = stamped_checkpoint(authority, django_capture_on_commit_callbacks)
    assert (checkpoint.timestamp_status, checkpoint.timestamp_error) == ("stamped", "")
    assert check_log().ok


def test_a_token_from_an_authority_outside_the_roots_is_a_failure_and_retried(
    authority, dummy_tsa, roots_file, django_capture_on_commit_callbacks, caplog
):
    roots_file(throwaway_authority("Other").ca_pem)
    checkpoint = stamped_checkpoint(authority, django_capture_on_commit_callbacks)
    assert checkpoint.timestamp_status == TimestampStatus.FAILED
    assert checkpoint.timestamp_token is None
    assert checkpoint.timestamp_error == (
        "the timestamping authority's certificate (Common Name: Test TSA) does not chain to "
        "any of the given trust roots"
    )
    assert "Traceback" not in caplog.text
    roots_file(dummy_tsa.ca_pem)
    assert stamp_owed() == 1
    checkpoint.refresh_from_db()
    assert checkpoint.timestamp_status == TimestampStatus.STAMPED


def test_an_unreadable_roots_file_is_a_failure(authority, settings, tmp_path,
                                               django_capture_on_commit_callbacks):  # fmt: skip
    settings.KAOHE_TSA_ROOTS = tmp_path / "missing.pem"
    checkpoint = stamped_checkpoint(authority, django_capture_on_commit_callbacks)
    assert checkpoint.timestamp_status == TimestampStatus.FAILED
    assert "KAOHE_TSA_ROOTS" in checkpoint.timestamp_error


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        (with_altered_time, "the timestamp token was altered: its TSTInfo is not what the "
                            "authority signed"),
        (with_altered_signature, "the timestamp token's signature does not verify with the "
                                 "certificate it carries"),
        (lambda token: b"garbage", "the timestamp token cannot be read"),
    ],
)  # fmt: skip
def test_an_altered_stored_token_is_named_by_verify(
    authority, django_capture_on_commit_callbacks, alter, message
):
    checkpoint = stamped_checkpoint(authority, django_capture_on_commit_callbacks)
    assert check_log().ok
    altered = alter(bytes(checkpoint.timestamp_token))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(timestamp_token=altered)
    with pytest.raises(CommandError) as raised:
        call_command("ledger", "verify")
    expected = f"the ledger does not verify: checkpoint #{checkpoint.pk} (size 1): {message}"
    assert str(raised.value).startswith(expected)
    assert "\n" not in str(raised.value)


def test_a_token_dated_more_than_an_hour_after_the_checkpoint_is_refused(
    authority, dummy_tsa, django_capture_on_commit_callbacks
):
    late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    authority.stamper = DummyTimeStamper(
        tsa_cert=dummy_tsa.stamper.tsa_cert, tsa_key=dummy_tsa.stamper.tsa_key, fixed_dt=late
    )
    checkpoint = stamped_checkpoint(authority, django_capture_on_commit_callbacks)
    assert checkpoint.timestamp_status == TimestampStatus.FAILED
    assert "after the checkpoint's: too late" in checkpoint.timestamp_error


def test_a_checkpoint_older_than_an_hour_is_no_longer_retried(
    authority, django_capture_on_commit_callbacks
):
    start = dt.datetime.now(dt.UTC)
    append("result.signed", {"employee": "E1"}, "user:1:a", {})
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint()  # the authority is down
    authority.start()
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        assert stamp_owed() == 0
        assert stamp(checkpoint) is False
    assert authority.requests == 0, "a timestamp that late would prove nothing about it"
    checkpoint.refresh_from_db()
    assert checkpoint.timestamp_error.startswith("too late")
