import datetime as dt
import json
import subprocess

import pytest

from kaohe.lib import clock
from kaohe.lib.canonical import canonical
from kaohe.signing.letter import make_letter
from kaohe.signing.models import Ceremony, CeremonyPurpose, Credential, Method, Signature
from kaohe.signing.seal import ca_certificate_pem
from kaohe.signing.testing import make_document
from kaohe.signing.tests.test_render import pdf_text
from kaohe.signing.tests.test_seal import pyhanko_validate, seal_dir, shared_seal_dir  # noqa: F401

CHECKPOINT = {
    "log_id": "kaohe-test-log",
    "tree_size": 43,
    "root_hash": "ab" * 32,
    "time": "2026-04-03T02:15:30Z",
    "key_id": "cd" * 8,
    "signature": "c2lnbmF0dXJl",
}


def make_signature(document, method=Method.PASSKEY) -> Signature:
    user = document.employee.user
    now = clock.now()
    ceremony = Ceremony.objects.create(
        purpose=CeremonyPurpose.SIGN, method=method, user=user, document=document,
        nonce=b"n" * 32, challenge=b"c" * 32, created_at=now,
        expires_at=now + dt.timedelta(minutes=5), used_at=now,
    )  # fmt: skip
    credential = None
    if method == Method.PASSKEY:
        credential = Credential.objects.create(
            user=user, name="phone", credential_id=b"\x01\x02", credential_id_b64="AQI",
            public_key=b"k", created_at=now,
        )  # fmt: skip
    return Signature.objects.create(
        document=document, ceremony=ceremony, method=method, signer=user, credential=credential,
        signed_at=dt.datetime(2026, 4, 3, 2, 15, 22, tzinfo=dt.UTC), ip="203.0.113.7",
        user_agent="Mozilla/5.0 (iPhone) 测试", entry_index=42,
        evidence={"format": "kaohe-evidence/v1", "doc_sha256": document.doc_sha256,
                  "method": str(method), "entry_index": 42},
    )  # fmt: skip


@pytest.fixture
def signed(cast, seal_dir):  # noqa: F811
    document = make_document(cast.amy)
    return document, make_signature(document)


def test_the_letter_is_sealed_and_valid(signed, tmp_path):
    document, signature = signed
    letter = make_letter(document, signature, CHECKPOINT)
    result = pyhanko_validate(letter, ca_certificate_pem(), tmp_path)
    assert "judged VALID" in result.stdout, result.stdout + result.stderr


def test_the_letter_holds_the_document_and_a_certificate_page(signed, tmp_path):
    document, signature = signed
    text = "".join(pdf_text(make_letter(document, signature, CHECKPOINT), tmp_path).split())
    for expected in [document.title, "艾米", "E0003", "签署证明", "Certificateofsignature",
                     document.doc_sha256, document.data_sha256, document.pdf_sha256,
                     "203.0.113.7", "2026-04-0310:15:22+0800", "2026-04-03T02:15:22Z",
                     "passkey", "AQI", "kaohe-test-log", "ab" * 32, "kaoheverifyreceipt.json",
                     "/api/v1/signing/ca.pem"]:  # fmt: skip
        assert expected in text, expected


def detach(letter: bytes, name: str, tmp_path) -> bytes:
    (tmp_path / "letter.pdf").write_bytes(letter)
    subprocess.run(["pdfdetach", "-saveall", "-o", str(tmp_path), str(tmp_path / "letter.pdf")],
                   check=True)  # fmt: skip
    return (tmp_path / name).read_bytes()


def test_the_evidence_and_the_original_pdf_are_attached(signed, tmp_path):
    document, signature = signed
    letter = make_letter(document, signature, CHECKPOINT)
    evidence = detach(letter, "evidence.json", tmp_path)
    assert evidence == canonical(signature.evidence)
    assert json.loads(evidence) == signature.evidence
    assert detach(letter, "document.pdf", tmp_path) == bytes(document.pdf)


def test_a_password_signature_names_its_method(cast, seal_dir, tmp_path):  # noqa: F811
    document = make_document(cast.amy)
    signature = make_signature(document, Method.PASSWORD)
    text = pdf_text(make_letter(document, signature, CHECKPOINT), tmp_path)
    assert "password" in text
