"""Test helpers for signing: a software passkey (SoftAuthenticator) that answers the
options kaohe sends with real WebAuthn responses, and `make_document`."""

import datetime as dt
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.encode_cbor import encode_cbor

from kaohe.signing.models import DocumentKind

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)


class SoftAuthenticator:
    """One passkey held in memory (EC P-256, ES256). `create(options)` answers
    navigator.credentials.create options with an attestation "none" response, `get(options)`
    answers navigator.credentials.get options with an assertion, both in the JSON shape a
    browser's PublicKeyCredential.toJSON() gives. Both set the user-verified flag (0x04)
    unless `uv=False` (an authenticator that only tested presence)."""

    def __init__(self, origin: str = "http://localhost:8000", rp_id: str | None = None):
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle = b""

    @property
    def credential_id_b64(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor({
            1: 2, 3: COSEAlgorithmIdentifier.ECDSA_SHA_256, -1: 1,
            -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big"),
        })  # fmt: skip

    def create(self, options: dict | str, *, uv: bool = True) -> dict:
        options = json.loads(options) if isinstance(options, str) else options
        rp_id = self.rp_id or options["rp"]["id"]
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"])
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
        auth_data = self._auth_data(
            rp_id, FLAG_UP | (FLAG_UV if uv else 0) | FLAG_AT, attested + self.cose_public_key()
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.credential_id_b64, "rawId": self.credential_id_b64, "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }  # fmt: skip

    def get(
        self, options: dict | str, *, origin: str | None = None, bump: int = 1, uv: bool = True
    ) -> dict:
        options = json.loads(options) if isinstance(options, str) else options
        rp_id = self.rp_id or options["rpId"]
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        self.sign_count += bump
        auth_data = self._auth_data(rp_id, FLAG_UP | (FLAG_UV if uv else 0), b"")
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.credential_id_b64, "rawId": self.credential_id_b64, "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(self.user_handle) if self.user_handle else None,
            },
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }  # fmt: skip

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        body = {"type": kind, "challenge": challenge, "origin": origin or self.origin,
                "crossOrigin": False}  # fmt: skip
        return json.dumps(body, separators=(",", ":")).encode()

    def _auth_data(self, rp_id: str, flags: int, rest: bytes) -> bytes:
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + rest


def sample_data(employee, kind: str = DocumentKind.RESULT, title: str = "", **extra) -> dict:
    """A small "kaohe-document/v1" document about `employee`."""
    from kaohe.org.models import Company

    title = title or "2026年第一季度绩效考核结果"
    data = {
        "format": "kaohe-document/v1",
        "kind": str(kind),
        "title": title,
        "company": Company.get().name or "测试公司",
        "employee": {"employee_no": employee.employee_no, "name": employee.name,
                     "org_unit": employee.org_unit.name, "position": employee.position},
        "period": {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31",
                   "label": "2026年第一季度"},
        "sections": [
            {"heading": "考核结果", "fields": [["总分", "62.50"], ["等级", "C"]]},
            {"heading": "定量指标", "table": {
                "columns": ["指标", "目标", "实际", "达成率", "权重", "得分"],
                "rows": [["销售额", "1,000,000", "0", "0.0%", "60", "0.00"]]}},
            {"heading": "主管评语", "paragraphs": ["本季度未完成销售目标。"]},
        ],
        "statement": "本人已阅读并确认上述考核结果。",
        "source": {"type": "tests", "id": os.urandom(6).hex(), "version": "1"},
    }  # fmt: skip
    data.update(extra)
    return data


def make_document(employee, actor=None, **kw):
    """Issues a document to `employee` (by the system unless `actor` is given); keyword
    arguments override `issue`'s (kind, title, data, source_type, source_id, due_at,
    supersedes)."""
    from kaohe.signing.content import issue

    kind = kw.pop("kind", DocumentKind.RESULT)
    title = kw.pop("title", "2026年第一季度绩效考核结果")
    data = kw.pop("data", None) or sample_data(employee, kind, title)
    spec = {"kind": kind, "employee": employee, "title": title, "data": data,
            "source_type": "tests", "source_id": data["source"]["id"]} | kw  # fmt: skip
    return issue(actor, **spec)


def fake_render(data: dict) -> bytes:
    """A stand-in PDF, deterministic for the same data, for tests that do not look inside."""
    from kaohe.lib.canonical import canonical

    digest = hashlib.sha256(canonical(data)).hexdigest()
    return b"%PDF-1.7\n% kaohe test document " + digest.encode() + b"\n%%EOF\n"


def use_fake_renderer(monkeypatch) -> None:
    """Makes `issue` render with `fake_render` (fast; no fonts)."""
    monkeypatch.setattr("kaohe.signing.content._render", fake_render)


def later(minutes: int) -> dt.timedelta:
    return dt.timedelta(minutes=minutes)
