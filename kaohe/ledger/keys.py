"""The company's Ed25519 checkpoint key: a PEM file readable by its owner only, created on
first use, and a SigningKey row for every public key that ever signed, so old checkpoints
keep verifying after a rotation.

The key files are the trust anchor, not the table: a key is published (and put into
proofs) only while its file, current or retired, is here. A row inserted into the database
alone would otherwise let whoever inserted it sign proofs of any history that verify
offline against the company's published keys."""

import base64
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import transaction

from kaohe.ledger.models import SigningKey
from kaohe.lib import clock
from kaohe.lib.checkpoint import key_id, public_key_raw
from kaohe.lib.files import create_exclusively

logger = logging.getLogger(__name__)


def signing_key() -> tuple[Ed25519PrivateKey, SigningKey]:
    """The current private key (created when there is none yet) and its registered row."""
    path = Path(settings.LEDGER_KEY_FILE)
    if not path.exists():
        _write_new_key(path, Ed25519PrivateKey.generate())
    private = _read_key(path)
    return private, register(private)


def register(private: Ed25519PrivateKey) -> SigningKey:
    raw = public_key_raw(private)
    row, _created = SigningKey.objects.get_or_create(
        key_id=key_id(raw),
        defaults={"public_key": base64.b64encode(raw).decode(), "created_at": clock.now()},
    )
    return row


class KeyFileError(ValueError):
    """A key file that cannot be read as an Ed25519 private key."""


def public_keys() -> dict[str, bytes]:
    """The public keys that signed checkpoints, current and retired, by key id: the
    registered ones whose key file is here (see the module's docstring)."""
    on_disk = keys_on_disk()
    return {kid: raw for kid, raw in registered_keys().items() if on_disk.get(kid) == raw}


def registered_keys() -> dict[str, bytes]:
    """Every public key in the SigningKey table, by key id, whether or not its file is here."""
    rows = SigningKey.objects.values_list("key_id", "public_key")
    return {kid: base64.b64decode(b64) for kid, b64 in rows}


def keys_on_disk() -> dict[str, bytes]:
    """The public halves of the readable key files: the current key and keys/retired/."""
    return key_files()[0]


def key_files() -> tuple[dict[str, bytes], list[str]]:
    """(the public halves of the key files by key id, why each unreadable one is not read).
    Verification trusts these, not the SigningKey table."""
    path = Path(settings.LEDGER_KEY_FILE)
    found, unreadable = {}, []
    for file in [path, *sorted((path.parent / "retired").glob("*.pem"))]:
        if not file.is_file():
            continue
        try:
            raw = public_key_raw(_read_key(file))
        except KeyFileError as exc:
            unreadable.append(str(exc))
            continue
        found[key_id(raw)] = raw
    return found, unreadable


def rotate_key() -> SigningKey:
    """Makes a new current key; the old file moves to retired/<key id>.pem and its row is
    marked retired (its public key stays, so what it signed still verifies)."""
    path = Path(settings.LEDGER_KEY_FILE)
    _, old_row = signing_key()
    retired = path.parent / "retired" / f"{old_row.key_id}.pem"
    retired.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    new_private = Ed25519PrivateKey.generate()
    with transaction.atomic():
        new_row = register(new_private)
        SigningKey.objects.filter(pk=old_row.pk, retired_at=None).update(retired_at=clock.now())
        os.replace(path, retired)
        if not _write_new_key(path, new_private):
            raise RuntimeError(f"{path} reappeared while the key was being rotated")
    logger.info("ledger signing key %s retired, %s is current", old_row.key_id, new_row.key_id)
    return new_row


def _read_key(path: Path) -> Ed25519PrivateKey:
    """The key in `path`; KeyFileError, naming the file, when it cannot be read."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("%s is readable by others (mode %o); chmod 600 it", path, mode & 0o777)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"key file {path} is not an unencrypted PEM private key (damaged or replaced)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} does not hold an Ed25519 private key")
    return key


def _write_new_key(path: Path, private: Ed25519PrivateKey) -> bool:
    """Of two processes creating the first key at once, exactly one writes it (True) and
    the other reads the winner's key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return create_exclusively(path, pem)
