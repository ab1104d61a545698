"""Permission-matrix rows for the employee app (mobile pages, PWA shell).

See test_permission_matrix.py: MATRIX maps each URL pattern to how outsiders are treated,
and `targets(cast)` makes amy's objects and returns {placeholder: value} for the routes.
"""

MATRIX: dict[str, tuple[str, list[str]]] = {}


def targets(cast) -> dict[str, str]:
    return {}
