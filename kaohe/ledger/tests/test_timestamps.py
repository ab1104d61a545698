"""RFC 3161 timestamps on checkpoints, against a timestamping authority on 127.0.0.1."""

import datetime as dt
import hashlib
import http.server
import socket
import threading

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps import DummyTimeStamper

from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, TimestampStatus
from kaohe.ledger.tasks import checkpoint_task
from kaohe.ledger.timestamps import stamp_owed, token_info, token_time

pytestmark = pytest.mark.django_db


def certificate(subject, issuer, public_key, signing_key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def dummy_tsa() -> DummyTimeStamper:
    """A throwaway CA and the TSA certificate it issued, as pyHanko's test authority."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = certificate("Test CA", "Test CA", ca_key.public_key(), ca_key, ca=True)
    tsa = certificate("Test TSA", "Test CA", tsa_key.public_key(), ca_key, ca=False)

    def der(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key_der = tsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    return DummyTimeStamper(
        tsa_cert=der(tsa), tsa_key=asn1_keys.PrivateKeyInfo.load(key_der), certs_to_embed=[der(ca)]
    )


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
    tsa = Authority(dummy_tsa)
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
