import datetime as dt
import io
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command

from kaohe.signing import seal
from kaohe.signing.render import render_document
from kaohe.signing.seal import SealError, ca_certificate_pem, import_pkcs12, seal_pdf
from kaohe.signing.tests.test_render import sample_data

PYHANKO = str(Path(sys.executable).with_name("pyhanko"))


@pytest.fixture(scope="session")
def shared_seal_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("seal")


@pytest.fixture
def seal_dir(settings, db, shared_seal_dir):
    """The company CA, made once for the whole session."""
    settings.KAOHE_SEAL_DIR = shared_seal_dir
    settings.KAOHE_TSA_URL = ""
    return shared_seal_dir


@pytest.fixture
def fresh_seal_dir(settings, db, tmp_path):
    settings.KAOHE_SEAL_DIR = tmp_path / "seal"
    settings.KAOHE_TSA_URL = ""
    return tmp_path / "seal"


def pyhanko_validate(pdf: bytes, ca_pem: bytes, tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / "letter.pdf").write_bytes(pdf)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    return subprocess.run(
        [PYHANKO, "sign", "validate", "--trust", str(tmp_path / "ca.pem"), "--trust-replace",
         "--pretty-print", str(tmp_path / "letter.pdf")],
        capture_output=True, text=True,
    )  # fmt: skip


def sealed(attachments=()) -> bytes:
    return seal_pdf(render_document(sample_data()), list(attachments))


def test_a_sealed_pdf_is_valid_and_intact_for_pyhanko(seal_dir, tmp_path):
    result = pyhanko_validate(sealed(), ca_certificate_pem(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "judged VALID" in result.stdout
    assert "The signer's certificate is trusted" in result.stdout
    assert "covers the entire file" in result.stdout


def test_one_changed_byte_inside_the_signed_range_breaks_the_seal(seal_dir, tmp_path):
    pdf = bytearray(sealed())
    at = pdf.index(b"/Producer (kaohe)") + len(b"/Producer (kaoh")
    pdf[at : at + 1] = b"X"
    result = pyhanko_validate(bytes(pdf), ca_certificate_pem(), tmp_path)
    assert "judged VALID" not in result.stdout
    assert "INVALID" in result.stdout or result.returncode != 0
    assert seal.validate_pdf(bytes(pdf))[0] is False


def test_attachments_are_embedded(seal_dir, tmp_path):
    pdf = sealed([("evidence.json", b'{"a":1}', "application/json")])
    (tmp_path / "x.pdf").write_bytes(pdf)
    listing = subprocess.run(["pdfdetach", "-list", str(tmp_path / "x.pdf")],
                             capture_output=True, text=True).stdout  # fmt: skip
    assert "evidence.json" in listing


def test_the_ca_and_seal_certificate_are_made_once_with_private_keys_0600(seal_dir):
    first = ca_certificate_pem()
    assert ca_certificate_pem() == first
    for name in ["ca.key.pem", "seal.key.pem"]:
        assert stat.S_IMODE((seal_dir / name).stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(first)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.endswith("kaohe CA")
    usage = seal.seal_certificate().extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert seal.seal_certificate().issuer == ca.subject


def test_a_seal_certificate_about_to_expire_is_issued_again(seal_dir, fresh_seal_dir):
    seal.ensure_company_ca()
    old = seal.seal_certificate()
    import time_machine

    with time_machine.travel(old.not_valid_after_utc - dt.timedelta(days=5)):
        seal.ensure_company_ca()
        renewed = seal.seal_certificate()
    assert renewed.serial_number != old.serial_number
    assert renewed.issuer == old.issuer


def company_p12(password: bytes | None, with_key: bool = True, usage: bool = True) -> bytes:
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Root CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=900))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme 公司 seal")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.KeyUsage(True, usage, False, False, False, False, False, False, False),
                       critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    encryption = BestAvailableEncryption(password) if password else None
    from cryptography.hazmat.primitives.serialization import NoEncryption

    return pkcs12.serialize_key_and_certificates(
        b"seal", key if with_key else None, cert, [ca],
        encryption or NoEncryption(),
    )  # fmt: skip


def test_an_imported_pkcs12_seals_and_its_chain_is_served(fresh_seal_dir, tmp_path):
    import_pkcs12(company_p12(b"geheim"), b"geheim")
    served = x509.load_pem_x509_certificates(ca_certificate_pem())
    assert [c.subject.rfc4514_string() for c in served] == ["CN=Acme Root CA"]
    result = pyhanko_validate(sealed(), ca_certificate_pem(), tmp_path)
    assert "judged VALID" in result.stdout, result.stdout + result.stderr
    assert "Acme" in result.stdout


@pytest.mark.parametrize(
    ("data", "password", "words"),
    [
        (lambda: company_p12(b"geheim"), b"wrong", "password"),
        (lambda: company_p12(None, with_key=False), None, "private key"),
        (lambda: b"not a pkcs12 file", None, "PKCS#12"),
        (lambda: company_p12(None, usage=False), None, "non-repudiation"),
    ],
)
def test_a_bad_pkcs12_is_refused_with_a_clear_error(fresh_seal_dir, data, password, words):
    from django.utils import translation

    with pytest.raises(SealError) as caught, translation.override("en"):
        import_pkcs12(data(), password)
    assert words in str(caught.value)
    assert not (fresh_seal_dir / "seal.pem").exists()


def test_a_failing_timestamp_authority_is_an_error_not_skipped(seal_dir, settings):
    settings.KAOHE_TSA_URL = "http://127.0.0.1:9/tsa"
    with pytest.raises(SealError):
        sealed()


def test_the_seal_command_prints_the_ca_and_validates_letters(seal_dir, tmp_path):
    out = io.StringIO()
    call_command("seal", "ca", stdout=out)
    assert out.getvalue().startswith("-----BEGIN CERTIFICATE-----")
    (tmp_path / "letter.pdf").write_bytes(sealed())
    out = io.StringIO()
    call_command("seal", "validate", str(tmp_path / "letter.pdf"), stdout=out)
    assert "judged VALID" in out.getvalue()
    (tmp_path / "plain.pdf").write_bytes(render_document(sample_data()))
    with pytest.raises(SystemExit):
        call_command("seal", "validate", str(tmp_path / "plain.pdf"), stdout=io.StringIO())


def test_the_seal_command_imports_a_pkcs12_with_a_password_file(fresh_seal_dir, tmp_path):
    (tmp_path / "company.p12").write_bytes(company_p12(b"geheim"))
    (tmp_path / "password").write_text("geheim\n")
    call_command("seal", "import", str(tmp_path / "company.p12"), "--password-file",
                 str(tmp_path / "password"), stdout=io.StringIO())  # fmt: skip
    assert "Acme" in seal.seal_certificate().subject.rfc4514_string()
    with pytest.raises(CommandError):
        call_command("seal", "import", str(tmp_path / "company.p12"), stdout=io.StringIO())
