"""A throwaway timestamping authority for tests: a CA, the TSA certificate it issued, and
pyHanko's DummyTimeStamper answering RFC 3161 requests in-process."""

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import cms, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore


@dataclass(frozen=True)
class ThrowawayTSA:
    stamper: DummyTimeStamper
    ca_pem: bytes  # the trust root, as a KAOHE_TSA_ROOTS / --tsa-roots file holds it

    def token(self, data: bytes, at: dt.datetime | None = None) -> bytes:
        """A DER TimeStampToken over SHA-256 of `data`, dated `at` (default: now)."""
        stamper = self.stamper
        if at is not None:
            stamper = DummyTimeStamper(
                tsa_cert=stamper.tsa_cert,
                tsa_key=stamper.tsa_key,
                certs_to_embed=SimpleCertificateStore.from_certs(stamper.certs_to_embed),
                fixed_dt=at,
            )
        request = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(data).digest(),
                },
                "cert_req": True,
            }
        )
        return stamper.request_tsa_response(request)["time_stamp_token"].dump()


def certificate(subject, issuer, public_key, signing_key, ca: bool, eku=True):
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
    if not ca and eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(signing_key, hashes.SHA256())


def authority(name: str = "Test", eku: bool = True) -> ThrowawayTSA:
    """A CA called "`name` CA" and a TSA certificate "`name` TSA" it issued (with the
    time-stamping extended key usage unless `eku` is False)."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name, tsa_name = f"{name} CA", f"{name} TSA"
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    tsa = certificate(tsa_name, ca_name, tsa_key.public_key(), ca_key, ca=False, eku=eku)

    def der(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key_der = tsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    stamper = DummyTimeStamper(
        tsa_cert=der(tsa),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
        certs_to_embed=SimpleCertificateStore.from_certs([der(ca)]),
    )
    return ThrowawayTSA(stamper=stamper, ca_pem=ca.public_bytes(serialization.Encoding.PEM))


def with_altered_time(token: bytes) -> bytes:
    """The token with one digit of its TSTInfo's genTime changed: still well formed, no
    longer what the authority signed."""
    signed_data = cms.ContentInfo.load(token)["content"]
    gen_time = signed_data["encap_content_info"]["content"].parsed["gen_time"].contents
    at = token.index(gen_time) + gen_time.index(b"Z") - 1  # the last digit of the seconds
    altered = bytearray(token)
    altered[at] = ord("0") if token[at] != ord("0") else ord("1")
    return bytes(altered)


def with_altered_signature(token: bytes) -> bytes:
    """The token with one byte of the authority's signature flipped."""
    signed_data = cms.ContentInfo.load(token)["content"]
    signature = signed_data["signer_infos"][0]["signature"].contents
    at = token.index(signature) + len(signature) // 2
    altered = bytearray(token)
    altered[at] ^= 0x01
    return bytes(altered)
