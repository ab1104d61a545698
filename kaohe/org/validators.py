"""What an employee number and an org unit code may look like, for every way they arrive.

Numbers and codes appear in URLs (/people/<number>/, /api/v1/employees/<number>), so each
must be one path segment: no control characters, spaces or slashes, and no leading dot.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Spelled out rather than \s, which regex engines (Python, Rust, ECMAScript) read apart.
CONTROL = r"\x00-\x1f\x7f-\x9f"
SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMPLOYEE_NO_PATTERN = f"^[^{CONTROL}{SPACE}/.][^{CONTROL}{SPACE}/]*$"
ORG_CODE_PATTERN = f"^[^{CONTROL}{SPACE}/]+$"
# Words the people pages use as paths of their own (/people/import/, /people/export.xlsx).
RESERVED_EMPLOYEE_NOS = frozenset({"import", "export.xlsx"})


def employee_no_problem(value: str) -> str | None:
    """Why `value` cannot be an employee number, or None when it can."""
    if value.lower() in RESERVED_EMPLOYEE_NOS:
        return str(_("%(value)s is reserved and cannot be an employee number.") % {"value": value})
    if not re.fullmatch(EMPLOYEE_NO_PATTERN, value):
        return str(_("An employee number may not contain spaces or slashes, nor start with a dot."))
    return None


def validate_employee_no(value: str) -> None:
    problem = employee_no_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_employee_no")
