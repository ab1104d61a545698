"""The company seal: a PAdES signature on every confirmation letter.

By default kaohe is its own small CA: on first use it makes a company CA (10 years) and a
seal certificate issued by it (3 years, re-issued when it runs out), under KAOHE_SEAL_DIR
(DATA_DIR/keys/seal/, private keys mode 0600). An admin may import the company's own
certificate instead (`kaohe seal import FILE.p12`); its CA chain, if the file holds one,
is then what `ca_certificate_pem()` serves for checking letters.

Files: ca.key.pem + ca.pem (the generated CA), seal.key.pem + seal.pem (what signs),
chain.pem (what verifiers are told to trust).
"""

import datetime as dt
import io
import threading
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.utils.translation import gettext as _
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kaohe.lib import clock, files

__all__ = [
    "SealError",
    "ca_certificate_pem",
    "ensure_company_ca",
    "import_pkcs12",
    "seal_certificate",
    "seal_pdf",
    "validate_pdf",
]

CA_YEARS, SEAL_YEARS = 10, 3
RENEW_BEFORE = dt.timedelta(days=30)
SIGNATURE_FIELD = "KaoheSeal"


class SealError(RuntimeError):
    """The seal cannot be made or used (bad certificate file, TSA down, ...)."""


def _dir() -> Path:
    return Path(settings.KAOHE_SEAL_DIR)


# -- the keys on disk -------------------------------------------------------------------------


def ensure_company_ca() -> None:
    """Create the company CA and the seal certificate if there are none yet (and re-issue
    a generated seal certificate that is about to expire)."""
    folder = _dir()
    if (folder / "seal.pem").is_file() and not _seal_needs_renewal(folder):
        return
    with files.locked(folder):
        if not (folder / "ca.key.pem").is_file() and not (folder / "seal.pem").is_file():
            _write_ca(folder)
        if not (folder / "seal.pem").is_file() or _seal_needs_renewal(folder):
            _issue_seal(folder)


def ca_certificate_pem() -> bytes:
    """The certificate(s) letters are checked against (PEM)."""
    ensure_company_ca()
    return (_dir() / "chain.pem").read_bytes()


def seal_certificate() -> x509.Certificate:
    ensure_company_ca()
    return x509.load_pem_x509_certificate((_dir() / "seal.pem").read_bytes())


def import_pkcs12(data: bytes, password: bytes | None) -> None:
    """Seal with the admin's own certificate from now on. The file must hold a private key
    and its certificate; the other certificates in it, if any, are served as the chain."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise SealError(
            _("The PKCS#12 file cannot be read (wrong password, or not a PKCS#12 file).")
        ) from exc
    if key is None or cert is None:
        raise SealError(_("The PKCS#12 file must contain a private key and its certificate."))
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        raise SealError(_("The private key in the PKCS#12 file does not match its certificate."))
    if not _may_seal(cert):
        raise SealError(
            _("The certificate must allow non-repudiation (content commitment) signatures.")
        )
    if cert.not_valid_after_utc <= clock.now():
        raise SealError(_("The certificate in the PKCS#12 file has expired."))
    chain = extra or [cert]
    folder = _dir()
    with files.locked(folder):
        _write(folder / "seal.key.pem", _key_pem(key), private=True)
        _write(folder / "seal.pem", _pem(cert))
        _write(folder / "chain.pem", b"".join(_pem(c) for c in chain))


def _may_seal(cert: x509.Certificate) -> bool:
    """PAdES validators (pyHanko's default) want nonRepudiation in the key usage."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.content_commitment


def _seal_needs_renewal(folder: Path) -> bool:
    """Only a seal certificate kaohe issued itself, while the CA key is at hand."""
    if not (folder / "ca.key.pem").is_file() or not (folder / "seal.pem").is_file():
        return False
    seal = x509.load_pem_x509_certificate((folder / "seal.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    return seal.issuer == ca.subject and seal.not_valid_after_utc - RENEW_BEFORE < clock.now()


def _write_ca(folder: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = _name(f"{_company()} kaohe CA")
    now = clock.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(folder / "ca.key.pem", _key_pem(key), private=True)
    _write(folder / "ca.pem", _pem(cert))


def _issue_seal(folder: Path) -> None:
    ca_key = serialization.load_pem_private_key((folder / "ca.key.pem").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = clock.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{_company()} kaohe seal"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=365 * SEAL_YEARS), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "seal.key.pem", _key_pem(key), private=True)
    _write(folder / "seal.pem", _pem(cert))
    _write(folder / "chain.pem", _pem(ca))


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,  # nonRepudiation
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _company()[:64]),
        ]
    )


def _company() -> str:
    from kaohe.org.models import Company

    return Company.get().name


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    files.replace(path, data, 0o600 if private else 0o644)


# -- sealing ------------------------------------------------------------------------------------

_cache: dict[tuple[Path, int], signers.SimpleSigner] = {}
_cache_lock = threading.Lock()


def _signer() -> signers.SimpleSigner:
    """The seal signer, parsed once per process and again when the files change."""
    ensure_company_ca()
    folder = _dir()
    key = (folder, (folder / "seal.pem").stat().st_mtime_ns)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = _load_signer(folder)
        return _cache[key]


def _load_signer(folder: Path) -> signers.SimpleSigner:
    private = serialization.load_pem_private_key((folder / "seal.key.pem").read_bytes(), None)
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert = x509.load_pem_x509_certificate((folder / "seal.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((folder / "chain.pem").read_bytes())
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain]
        ),
    )


def seal_pdf(pdf: bytes, attachments: list[tuple[str, bytes, str]]) -> bytes:
    """`pdf` with the attachments (name, content, MIME type) embedded as associated files
    and a PAdES signature by the company seal over all of it. With KAOHE_TSA_URL set the
    signature carries an RFC 3161 timestamp; if the TSA fails, so does the seal."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for name, content, mime in attachments:
        _attach(writer, name, content, mime)
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason="kaohe",
    )
    tsa_url = getattr(settings, "KAOHE_TSA_URL", "")
    stamper = timestamps.HTTPTimeStamper(tsa_url, timeout=10) if tsa_url else None
    pdf_signer = signers.PdfSigner(meta, signer=_signer(), timestamper=stamper)
    try:
        out = pdf_signer.sign_pdf(writer, output=io.BytesIO())
    except timestamps.TimestampRequestError as exc:
        raise SealError(
            _("The timestamping authority did not answer: %(error)s") % {"error": exc}
        ) from exc
    return out.getvalue()


def _attach(writer, name: str, content: bytes, mime: str) -> None:
    data = embed.EmbeddedFileObject.from_file_data(
        writer,
        content,
        params=embed.EmbeddedFileParams(embed_checksum=True),
        mime_type=mime,
    )
    spec = embed.FileSpec(
        file_spec_string=name,
        file_name=name,
        embedded_data=data,
        af_relationship=generic.NameObject("/Supplement"),
    )
    embed.embed_file(writer, spec)


def validate_pdf(pdf: bytes) -> tuple[bool, str]:
    """(every seal valid and trusted, pyHanko's report) for a sealed PDF, trusting the
    certificates `ca_certificate_pem()` serves."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in x509.load_pem_x509_certificates(ca_certificate_pem())
    ]
    try:
        signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    except Exception as exc:  # pyHanko raises several kinds for a damaged file
        return False, f"not a readable PDF: {exc}"
    if not signatures:
        return False, "the PDF carries no signature"
    valid, reports = True, []
    for signature in signatures:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = validate_pdf_signature(signature, context)
        valid &= status.bottom_line
        reports.append(status.pretty_print_details())
    return valid, "\n".join(reports)
