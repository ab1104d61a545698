"""The company's checkpoint key: created on first use, kept private, rotated with its past."""

import base64
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from kaohe.ledger.keys import public_keys, rotate_key, signing_key
from kaohe.ledger.models import SigningKey
from kaohe.lib.checkpoint import key_id, public_key_raw

pytestmark = pytest.mark.django_db


def test_the_first_use_creates_a_key_file_only_its_owner_can_read(settings):
    path = settings.LEDGER_KEY_FILE
    assert not path.exists()
    private, row = signing_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = public_key_raw(private)
    assert (row.key_id, row.algorithm, base64.b64decode(row.public_key)) == (
        key_id(raw), "Ed25519", raw,
    )  # fmt: skip
    assert row.retired_at is None


def test_later_uses_read_the_same_key():
    first, row = signing_key()
    again, same = signing_key()
    assert public_key_raw(again) == public_key_raw(first)
    assert same == row
    assert SigningKey.objects.count() == 1


def test_a_key_given_in_a_file_is_used_and_registered(settings, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    given = Ed25519PrivateKey.generate()
    path = tmp_path / "given.pem"
    path.write_bytes(given.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    path.chmod(0o600)
    settings.LEDGER_KEY_FILE = path
    _, row = signing_key()
    assert row.key_id == key_id(public_key_raw(given))


def test_a_key_file_others_can_read_is_used_with_a_warning(settings, caplog):
    signing_key()
    settings.LEDGER_KEY_FILE.chmod(0o644)
    signing_key()
    assert "readable by others" in caplog.text


def test_rotation_retires_the_old_key_and_keeps_its_public_half(settings):
    old_private, old = signing_key()
    new = rotate_key()
    assert new.key_id != old.key_id
    old.refresh_from_db()
    assert old.retired_at is not None and new.retired_at is None
    retired_file = settings.LEDGER_KEY_FILE.parent / "retired" / f"{old.key_id}.pem"
    assert stat.S_IMODE(retired_file.stat().st_mode) == 0o600
    assert public_key_raw(signing_key()[0]) != public_key_raw(old_private)
    assert signing_key()[1] == new
    assert set(public_keys()) == {old.key_id, new.key_id}
