"""Our wrapper around py_webauthn: options for registering a passkey and for signing one
document, verification of the browser's answers, and `verify_archived` that checks a
stored assertion again without the database."""

import hashlib
import json
import re
from dataclasses import dataclass

import webauthn
from django.conf import settings
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    WebAuthnException,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

SIGN_DOMAIN = b"kaohe/sign/v1"
TIMEOUT_MS = 5 * 60 * 1000
LOCALHOST_ORIGIN = re.compile(r"^http://localhost(:[0-9]{1,5})?$")


class PasskeyError(ValueError):
    """The browser's answer does not verify; the message is technical (logged, not shown)."""


def signing_challenge(doc_sha256: str, ceremony_id, nonce: bytes, employee_id) -> bytes:
    """SHA-256("kaohe/sign/v1" || 0x00 || doc_sha256 || ceremony id || nonce || employee id),
    the UUIDs as their 16 bytes."""
    parts = [SIGN_DOMAIN, b"\x00", bytes.fromhex(doc_sha256), ceremony_id.bytes, nonce,
             employee_id.bytes]  # fmt: skip
    return hashlib.sha256(b"".join(parts)).digest()


def rp_id() -> str:
    return settings.KAOHE_WEBAUTHN_RP_ID


def origin_allowed(origin: str) -> bool:
    if origin in settings.KAOHE_WEBAUTHN_ORIGINS:
        return True
    return bool(settings.KAOHE_WEBAUTHN_ANY_LOCALHOST and LOCALHOST_ORIGIN.match(origin))


def registration_options(user, challenge: bytes, exclude: list[bytes]) -> dict:
    options = webauthn.generate_registration_options(
        rp_id=rp_id(),
        rp_name="kaohe 考核",
        user_name=user.get_username(),
        user_id=_user_handle(user),
        user_display_name=_display_name(user),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in exclude],
    )
    return json.loads(webauthn.options_to_json(options))


def authentication_options(challenge: bytes, allow: list[bytes]) -> dict:
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allow],
        # A signature must be the employee's own act: a PIN or biometric, not mere presence.
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(webauthn.options_to_json(options))


@dataclass(frozen=True)
class Registered:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]


def verify_registration(credential: dict, challenge: bytes) -> Registered:
    origin = _origin_of(credential)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origin,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(str(exc)) from exc
    transports = credential.get("response", {}).get("transports") or []
    return Registered(verified.credential_id, verified.credential_public_key,
                      verified.sign_count, str(verified.aaguid),
                      [str(t) for t in transports][:10])  # fmt: skip


def verify_assertion(
    credential: dict, challenge: bytes, public_key: bytes, sign_count: int
) -> tuple[int, str]:
    """Verifies a navigator.credentials.get answer, which must carry the user-verified flag;
    returns (new sign count, origin)."""
    origin = _origin_of(credential)
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except (
        InvalidAuthenticationResponse,
        WebAuthnException,
        ValueError,
        KeyError,
        TypeError,
    ) as exc:
        raise PasskeyError(str(exc)) from exc
    return verified.new_sign_count, origin


def verify_archived(archived: dict) -> None:
    """Checks an archived assertion (Signature.assertion) by itself: its challenge is the
    one its recorded inputs give, and the signature verifies with the recorded public key
    for the recorded rp id and origin, and carries the user-verified flag when the archive
    says the user was verified. Raises PasskeyError."""
    import uuid

    try:
        inputs = archived["challenge_inputs"]
        challenge = signing_challenge(
            inputs["doc_sha256"],
            uuid.UUID(inputs["ceremony"]),
            bytes.fromhex(inputs["nonce"]),
            uuid.UUID(inputs["employee"]),
        )
        credential = {
            "id": archived["credential_id"], "rawId": archived["credential_id"],
            "type": "public-key",
            "response": {
                "clientDataJSON": archived["client_data_json"],
                "authenticatorData": archived["authenticator_data"],
                "signature": archived["signature"],
                "userHandle": archived.get("user_handle") or None,
            },
        }  # fmt: skip
        webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=archived["rp_id"],
            expected_origin=archived["origin"],
            credential_public_key=base64url_to_bytes(archived["public_key"]),
            credential_current_sign_count=0,
            require_user_verification=bool(archived.get("user_verified")),
        )
    except PasskeyError:
        raise
    except Exception as exc:
        raise PasskeyError(f"the archived assertion does not verify: {exc}") from exc


def archive(credential: dict, public_key: bytes, origin: str, inputs: dict) -> dict:
    """What Signature.assertion keeps (base64url strings), for an assertion that
    `verify_assertion` accepted (so the user was verified)."""
    response = credential["response"]
    return {
        "credential_id": credential.get("rawId") or credential["id"],
        "client_data_json": response["clientDataJSON"],
        "authenticator_data": response["authenticatorData"],
        "signature": response["signature"],
        "user_handle": response.get("userHandle") or "",
        "public_key": bytes_to_base64url(public_key),
        "rp_id": rp_id(),
        "origin": origin,
        "challenge_inputs": inputs,
        "user_verified": True,
    }


def credential_id_of(credential: dict) -> str:
    value = credential.get("rawId") or credential.get("id")
    if not isinstance(value, str) or not value:
        raise PasskeyError("the answer names no credential")
    return value


def _origin_of(credential: dict) -> str:
    try:
        client_data = parse_client_data_json(
            base64url_to_bytes(credential["response"]["clientDataJSON"])
        )
    except Exception as exc:
        raise PasskeyError(f"clientDataJSON is malformed: {exc}") from exc
    if not origin_allowed(client_data.origin):
        raise PasskeyError(f"origin {client_data.origin!r} is not this site")
    return client_data.origin


def _user_handle(user) -> bytes:
    return hashlib.sha256(f"kaohe-user:{user.pk}".encode()).digest()[:16]


def _display_name(user) -> str:
    employee = getattr(user, "employee", None)
    return employee.name if employee is not None else user.get_username()
