"""RFC 3161 timestamp tokens: is this token a genuine timestamp over these bytes?

`check_token` answers with pyHanko's CMS validation (pyhanko.sign.validation and
pyhanko_certvalidator), in three steps:

1. the TSTInfo's message imprint is SHA-256 of the data;
2. the token's CMS SignedData holds up: the message-digest signed attribute is the hash of
   the encapsulated TSTInfo, the signature over the signed attributes verifies with the
   signer certificate carried in the token, and that certificate has the id-kp-timeStamping
   extended key usage;
3. only when trust roots are given: the signer certificate chains to one of them and was
   valid at the token's own time (genTime). Nothing is fetched from the network, so
   revocation is not checked.

Without trust roots step 3 is skipped and the result says so (`chained` is False): the
signature then shows the token is intact and was made with the key of the certificate it
carries, not that this certificate belongs to a timestamping authority one trusts.
"""

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, pem, tsp, x509  # tsp: teaches cms the TSTInfo content type

from kaohe.lib.checkpoint import VerifyError

__all__ = ["LATE", "TokenCheck", "check_token", "late_by", "load_roots", "token_time"]

# A checkpoint's timestamp is asked for right after it is signed; one much later shows only
# that the checkpoint existed then, not when it claims to have been made.
LATE = dt.timedelta(hours=1)

# pyHanko logs each failed check with its traceback; the failure is reported here instead.
_QUIET = ("pyhanko", "pyhanko_certvalidator")

_TRUST_FAILURES = {
    "NO_CERTIFICATE_CHAIN_FOUND": "does not chain to any of the given trust roots",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "does not chain to the given trust roots (a "
    "certificate on the way does not verify, or its issuer is not among them)",
    "OUT_OF_BOUNDS_NO_POE": "was expired or not yet valid at the token's time",
    "EXPIRED": "was expired at the token's time",
    "NOT_YET_VALID": "was not yet valid at the token's time",
    "REVOKED_NO_POE": "is revoked",
    "REVOKED_CA_NO_POE": "was issued by a revoked authority",
    "CHAIN_CONSTRAINTS_FAILURE": "breaks a constraint of its chain (key usage, basic "
    "constraints or validity)",
}


@dataclass(frozen=True)
class TokenCheck:
    time: dt.datetime  # the authority's genTime
    signer: str  # the subject of the certificate that signed the token
    chained: bool  # checked against trust roots (False when none were given)


def check_token(
    token: bytes, data: bytes, roots: Sequence[x509.Certificate] | None = None
) -> TokenCheck:
    """Raises VerifyError unless `token` (a DER TimeStampToken) is a timestamp over SHA-256
    of `data` whose signature verifies (and, with `roots`, whose certificate chains to one
    of them). The message says which check failed, for a person to read."""
    signed_data, info = _parse(token)
    imprint = info["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or (
        imprint["hashed_message"].native != hashlib.sha256(data).digest()
    ):
        raise VerifyError("the timestamp token covers other data than this checkpoint")
    status = _validate(signed_data, data, info["gen_time"].native, roots)
    certificate = status["signing_cert"]
    _check_signature(status)
    _check_usage(certificate)
    if roots is not None:
        _check_trust(status, certificate)
    return TokenCheck(
        time=info["gen_time"].native, signer=_name(certificate), chained=roots is not None
    )


def token_time(token: bytes) -> dt.datetime:
    """The time the authority put in the token (its genTime), unchecked."""
    return _parse(token)[1]["gen_time"].native


def late_by(stamped: dt.datetime, signed: dt.datetime) -> dt.timedelta | None:
    """How long after `signed` the authority stamped, when that is more than LATE."""
    gap = stamped - signed
    return gap if gap > LATE else None


def load_roots(data: bytes, what: str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle (or of one DER certificate)."""
    try:
        if pem.detect(data):
            ders = [der for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            ders = [data]
        roots = [x509.Certificate.load(der) for der in ders]
        for root in roots:
            root.native  # noqa: B018 -- asn1crypto parses lazily; fail here, not later
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise VerifyError(f"{what} does not hold X.509 certificates in PEM ({exc})") from None
    if not roots:
        raise VerifyError(f"{what} holds no certificate")
    return roots


def _parse(token: bytes) -> tuple[cms.SignedData, Any]:
    try:
        content_info = cms.ContentInfo.load(token)
        if content_info["content_type"].native != "signed_data":
            raise ValueError("not a CMS SignedData")
        signed_data = content_info["content"]
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise ValueError("it does not encapsulate a TSTInfo")
        info = encapsulated["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            raise ValueError("it does not encapsulate a TSTInfo")
        signed_data.native  # noqa: B018 -- parse it all now: a bad byte fails here
        info.native  # noqa: B018
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise VerifyError(f"the timestamp token cannot be read ({exc})") from None
    return signed_data, info


def _validate(
    signed_data: cms.SignedData,
    data: bytes,
    when: dt.datetime,
    roots: Sequence[x509.Certificate] | None,
) -> dict[str, Any]:
    # Imported here: pyHanko's validation takes half a second to import, and most proofs
    # `kaohe verify` reads carry no timestamp.
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(trust_roots=list(roots or []), allow_fetching=False, moment=when)
    expected = hashlib.sha256(data).digest()  # the imprint, already compared
    try:
        with _quiet():
            return _run(validate_tst_signed_data(signed_data, context, lambda _: expected))
    except SignatureValidationError as exc:
        raise VerifyError(f"the timestamp token's signature cannot be checked: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise VerifyError(f"the timestamp token cannot be read ({exc})") from None


def _check_signature(status: dict[str, Any]) -> None:
    if not status["intact"]:
        raise VerifyError(
            "the timestamp token was altered: its TSTInfo is not what the authority signed "
            "(the message digest in its signed attributes differs)"
        )
    if not status["valid"]:
        raise VerifyError(
            "the timestamp token's signature does not verify with the certificate it carries: "
            "the token was altered or forged"
        )
    indication = status["trust_problem_indic"]
    if indication is not None and indication.name.startswith("CRYPTO_CONSTRAINTS"):
        raise VerifyError("the timestamp token is signed with an algorithm no longer accepted")


def _check_usage(certificate: x509.Certificate) -> None:
    usage = certificate.extended_key_usage_value
    if usage is None or "time_stamping" not in usage.native:
        raise VerifyError(
            f"the timestamp token is signed by {_name(certificate)}, whose certificate lacks "
            "the time-stamping extended key usage (id-kp-timeStamping)"
        )


def _check_trust(status: dict[str, Any], certificate: x509.Certificate) -> None:
    indication = status["trust_problem_indic"]
    if indication is None:
        return
    reason = _TRUST_FAILURES.get(indication.name, f"failed validation ({indication.name})")
    raise VerifyError(f"the timestamping authority's certificate ({_name(certificate)}) {reason}")


def _name(certificate: x509.Certificate) -> str:
    return certificate.subject.human_friendly


@contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _QUIET]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run(coroutine):
    """asyncio.run, also from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
