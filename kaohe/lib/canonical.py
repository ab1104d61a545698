"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme): the bytes the ledger hashes.

Payloads carry decimals (money, scores, percentages) as strings such as "87.50": a float is
rejected here rather than canonicalised, because the binary double behind it is rarely the
number the user typed, and evidence must say exactly what was recorded. Integers must stay
within +/-(2**53 - 1), the range every JSON implementation reads exactly.
"""

from typing import Any

import rfc8785

__all__ = ["CanonicalError", "canonical"]


class CanonicalError(ValueError):
    """The object cannot be written as canonical JSON (a float, a Decimal, a big integer,
    a non-string key, ...)."""


def canonical(obj: Any) -> bytes:
    """The RFC 8785 canonical JSON of `obj` (dicts, lists, str, int, bool, None), as UTF-8."""
    _reject_floats(obj, "$")
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(str(exc)) from exc


def _reject_floats(obj: Any, path: str) -> None:
    if isinstance(obj, float):
        raise CanonicalError(f"{path} is a float ({obj!r}); write decimal values as strings")
    if isinstance(obj, dict):
        for key, value in obj.items():
            _reject_floats(value, f"{path}.{key}")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _reject_floats(value, f"{path}[{i}]")
