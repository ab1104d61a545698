"""Permission-matrix rows for assessments: templates, cycles, results, the HR cycle view.

See test_permission_matrix.py: MATRIX maps each URL pattern to how outsiders are treated,
and `targets(cast)` makes amy's objects and returns {placeholder: value} for the routes.
"""

CYCLE = "cycles/<uuid:cycle_id>/"
RESULT = CYCLE + "results/<uuid:result_id>/"

MATRIX: dict[str, tuple[str, list[str]]] = {
    # Lists show only the caller's cycles; the form offers only the caller's units.
    "cycles/": ("filtered", ["get"]),
    "cycles/new/": ("filtered", ["get", "post"]),
    CYCLE: ("denied", ["get"]),
    CYCLE + "standard/": ("denied", ["post"]),
    CYCLE + "scoring/": ("denied", ["post"]),
    CYCLE + "fill/": ("denied", ["post"]),
    CYCLE + "publish/": ("denied", ["post"]),
    CYCLE + "close/": ("denied", ["post"]),
    CYCLE + "settings/": ("denied", ["post"]),
    RESULT: ("denied", ["get"]),
    RESULT + "score/": ("denied", ["post"]),
    RESULT + "adjust/": ("denied", ["post"]),
    RESULT + "publish/": ("denied", ["post"]),
    # Templates are the company's, for HR (another unit's HR included); no one's data.
    "templates/": ("filtered", ["get"]),
    "templates/new/": ("filtered", ["get", "post"]),
    "templates/<uuid:template_id>/": ("filtered", ["get", "post"]),
    "api/v1/cycles": ("filtered", ["get"]),
    "api/v1/cycles/<public_id>/results": ("denied", ["get"]),
}


def targets(cast) -> dict[str, str]:
    """A scoring cycle over East with amy's result (made directly: no documents needed)."""
    from kaohe.reviews.models import CycleState, Result
    from kaohe.reviews.testing import make_cycle

    cycle = make_cycle(cast, name="华东 2026 Q1 私密")
    cycle.state = CycleState.SCORING
    cycle.save(update_fields=["state"])
    result = Result.objects.create(
        cycle=cycle, employee=cast.amy, org_unit=cast.east_sales, position=cast.amy.position
    )
    return {
        "<uuid:cycle_id>": str(cycle.public_id),
        "<uuid:result_id>": str(result.public_id),
        "<uuid:template_id>": str(cycle.template.public_id),
        "<public_id>": str(cycle.public_id),
    }
