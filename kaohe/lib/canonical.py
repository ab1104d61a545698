"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme): the bytes the ledger hashes.

Payloads carry decimals (money, scores, percentages) as strings such as "87.50": a float is
rejected here rather than canonicalised, because the binary double behind it is rarely the
number the user typed, and evidence must say exactly what was recorded. Integers must stay
within +/-(2**53 - 1), the range every JSON implementation reads exactly.

Most objects (strings, booleans, None, integers in range, lists, and objects whose keys
have no character from U+D800 up) come out of the standard library's C encoder exactly as
RFC 8785 writes them: members sorted, no whitespace, UTF-8 unescaped, and the same escapes
(\\b \\t \\n \\f \\r, \\" \\\\, \\u00xx for other control characters). Keys are where the two
differ: RFC 8785 sorts them by UTF-16 code units and Python by code points, which disagree
only between U+E000..U+FFFF and the characters above U+FFFF. Anything else goes to the
`rfc8785` package. A property test holds the two paths to the same bytes.
"""

import json
from typing import Any

import rfc8785

__all__ = ["CanonicalError", "canonical"]

MAX_INTEGER = 2**53 - 1
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"),
    sort_keys=True,
).encode  # fmt: skip


class CanonicalError(ValueError):
    """The object cannot be written as canonical JSON (a float, a Decimal, a big integer,
    a non-string key, ...)."""


def canonical(obj: Any) -> bytes:
    """The RFC 8785 canonical JSON of `obj` (dicts, lists, str, int, bool, None), as UTF-8."""
    if _plain(obj):
        try:
            return _encode(obj).encode()
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    _reject_floats(obj, "$")
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(str(exc)) from exc


def _plain(obj: Any) -> bool:
    """Whether the standard library writes `obj` exactly as RFC 8785 does (module doc)."""
    kind = type(obj)
    if kind is str or kind is bool or obj is None:
        return True
    if kind is int:
        return -MAX_INTEGER <= obj <= MAX_INTEGER
    if kind is dict:
        return all(
            type(key) is str and (key.isascii() or max(key) < "\ud800") and _plain(value)
            for key, value in obj.items()
        )
    if kind is list:
        return all(_plain(value) for value in obj)
    return False


def _reject_floats(obj: Any, path: str) -> None:
    if isinstance(obj, float):
        raise CanonicalError(f"{path} is a float ({obj!r}); write decimal values as strings")
    if isinstance(obj, dict):
        for key, value in obj.items():
            _reject_floats(value, f"{path}.{key}")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _reject_floats(value, f"{path}[{i}]")
