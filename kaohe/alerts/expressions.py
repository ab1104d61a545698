"""Custom conditions: an expression over an employee's figures in CEL, Google's Common
Expression Language (the `cel-python` package), for example

    streak_below(score, 80) >= 2 && pending_documents == 0

CEL has no loops, no assignment and no way to reach Python objects: names resolve only to
the variables and functions listed below, `a.b` reads a map's key and nothing else. The
expression is checked when the rule is saved (`check`), each unknown name and each syntax
error reported with its line and column; then it is evaluated once per employee in the
rule's scope (`evaluate_rule`).

Variables (per employee, as of the moment evaluated):
    score               the weighted score, per month: the last 12 complete months, oldest
                        first, each a percentage or null (no agreement, no figure)
    attainment          a map: metric code -> such a list, for the metrics of the
                        employee's target agreements (attainment.sales_amount)
    pending_documents   documents (results, target agreements, plans) awaiting signature
    days_since_delivery calendar days since the oldest of those was delivered (0: none)
    overdue_tasks       open improvement-plan tasks past their due day
    tenure_days         calendar days since the hire date
    position            the position, as text
    unit                the code of the employee's org unit
Functions:
    streak_below(list, x)  how many values at the end of the list are below x in a row (a
                           null ends the streak)
    last(list, n)          the last n values of the list
    avg(list)              the average of the values that are not null (null: none)
and CEL's own: size, int, double, string, contains, startsWith, endsWith, the macros
all, exists, exists_one, map, filter, and `has`. Integers and decimals compare with each
other (80 < 80.5). Comparing null with a number is an error for that employee: he is not
flagged, the error is logged and the preview counts it.
"""

import contextlib
import datetime as dt
import functools
import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from django.db.models import Count, Min, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.lib.periods import PeriodKind, add_months
from kaohe.metrics.models import (
    AgreementItem,
    Metric,
    TargetAgreement,
)
from kaohe.metrics.series import attainment_series, complete_periods
from kaohe.pips.models import PlanStatus, Task
from kaohe.signing.agreements import awaiting_without_document
from kaohe.signing.models import CHASED_KINDS, Document, DocumentState

logger = logging.getLogger(__name__)

MAX_LENGTH = 2000
MONTHS = 12
# Macros nested deeper than this multiply list sizes beyond what a sweep can afford.
MAX_MACRO_DEPTH = 2
# The syntax tree's depth: about ten levels per bracket; evaluation recurses along it.
MAX_DEPTH = 250
# Cost bounds, see _check_size: a list literal as long as a year of monthly figures.
MAX_LIST = 12
MAX_NODES = 2000  # about 120 comparisons; the length limit bounds it too
CHUNK = 2_000  # employees whose figures are read together

VARIABLES = {
    "score": gettext_lazy(
        "the weighted score of the last 12 complete months, oldest first (a list of "
        "percentages; null where there is no figure)"
    ),
    "attainment": gettext_lazy(
        "the attainment of each metric of the employee's target agreements, as such a list "
        "(attainment.sales_amount)"
    ),
    "pending_documents": gettext_lazy(
        "documents (results, target agreements, plans) awaiting the employee's signature"
    ),
    "days_since_delivery": gettext_lazy(
        "calendar days since the oldest of those was delivered (0 when none)"
    ),
    "overdue_tasks": gettext_lazy("open improvement-plan tasks past their due day"),
    "tenure_days": gettext_lazy("calendar days since the hire date"),
    "position": gettext_lazy("the position, as text"),
    "unit": gettext_lazy("the code of the employee's org unit"),
}
FUNCTIONS = {
    "streak_below(list, x)": gettext_lazy(
        "how many values at the end of the list are below x in a row (a null ends the streak)"
    ),
    "last(list, n)": gettext_lazy("the last n values of the list"),
    "avg(list)": gettext_lazy("the average of the values that are not null (null when none)"),
    "size(list)": gettext_lazy("how many values the list has"),
}
EXAMPLES = (
    "streak_below(score, 80) >= 2",
    "avg(last(attainment.sales_amount, 3)) < 60 && tenure_days > 180",
    "pending_documents > 0 && days_since_delivery > 7 || overdue_tasks >= 2",
)
# What the rule form shows next to the expression field.
HELP = {"variables": VARIABLES, "functions": FUNCTIONS, "examples": EXAMPLES}

MACROS = {"all", "exists", "exists_one", "map", "filter"}
CEL_FUNCTIONS = {"size", "int", "double", "string", "bool", "contains", "startsWith",
                 "endsWith", "has"}  # fmt: skip
OWN_FUNCTIONS = {"streak_below", "last", "avg"}


class ExpressionError(ValueError):
    """An expression that cannot be saved; the message (translated) says where and why."""


# --- the functions -----------------------------------------------------------------------


def _number(value) -> float | None:
    if isinstance(value, celtypes.BoolType) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def _list(value) -> list:
    if not isinstance(value, list):
        raise TypeError(f"not a list: {value!r}")
    return value


def streak_below(values, limit) -> celtypes.IntType:
    bound, count = _number(limit), 0
    if bound is None:
        raise TypeError("the limit is null")
    for value in reversed(_list(values)):
        number = _number(value)
        if number is None or number >= bound:
            break
        count += 1
    return celtypes.IntType(count)


def last(values, n) -> celtypes.ListType:
    if isinstance(n, celtypes.BoolType) or not isinstance(n, int) or n < 0:
        raise TypeError(f"not a count: {n!r}")
    return celtypes.ListType(_list(values)[-n:] if n else [])


def avg(values):
    numbers = [_number(v) for v in _list(values) if v is not None]
    return celtypes.DoubleType(sum(numbers) / len(numbers)) if numbers else None


def _promoting(compare):
    """CEL refuses `80 < 80.5`; people writing rules should not have to know int from
    double, so a mixed pair compares as decimals."""

    def apply(left, right):
        if isinstance(left, celtypes.IntType) and isinstance(right, celtypes.DoubleType):
            left = celtypes.DoubleType(left)
        elif isinstance(left, celtypes.DoubleType) and isinstance(right, celtypes.IntType):
            right = celtypes.DoubleType(right)
        return celtypes.BoolType(compare(left, right))

    return apply


def _equality(equal: bool):
    """`x != null` must work on a list of figures with gaps: null equals only null (CEL's
    heterogeneous equality, which this version of cel-python lacks)."""
    same = _promoting(operator.eq)

    def apply(left, right):
        if left is None or right is None or isinstance(left, celtypes.NullType):
            return celtypes.BoolType((left is None and right is None) == equal)
        return celtypes.BoolType(bool(same(left, right)) == equal)

    return apply


RUNTIME_FUNCTIONS = {
    "streak_below": streak_below,
    "last": last,
    "avg": avg,
    "_<_": _promoting(operator.lt),
    "_<=_": _promoting(operator.le),
    "_>_": _promoting(operator.gt),
    "_>=_": _promoting(operator.ge),
    "_==_": _equality(True),
    "_!=_": _equality(False),
}


# --- checking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    program: celpy.Runner
    variables: frozenset[str]  # the variables it reads


def check(expression: str) -> None:
    """Raises ExpressionError when the expression cannot be saved as it is."""
    compile_expression(expression)


def compile_expression(expression: str) -> Compiled:
    if not expression.strip():
        raise ExpressionError(_("Enter an expression."))
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(
            _("The expression is too long: at most %(limit)s characters.") % {"limit": MAX_LENGTH}
        )
    return _compile(expression)


@functools.lru_cache(maxsize=64)
def _compile(expression: str) -> Compiled:
    environment = celpy.Environment()
    try:
        tree = environment.compile(expression)
    except celpy.CELParseError as fault:
        raise ExpressionError(_syntax_message(expression, fault)) from None
    except RecursionError:
        tree = None
    if tree is None or _depth(tree) > MAX_DEPTH:
        raise ExpressionError(_("The expression is nested too deeply."))
    _check_size(tree)
    used = _Names().names(tree)
    compiled = Compiled(environment.program(tree, functions=RUNTIME_FUNCTIONS), used)
    _check_result(compiled)
    return compiled


def _check_size(tree: lark.Tree) -> None:
    """Bounds the work of one evaluation: a macro runs over at most MAX_LIST items (the
    figures' lists hold twelve months, a literal list no more), nested at most twice, over
    a body of at most MAX_NODES nodes."""
    nodes = list(tree.iter_subtrees())
    if len(nodes) > MAX_NODES:
        raise ExpressionError(_("The expression is too large; split the condition into rules."))
    for node in nodes:
        if node.data in ("exprlist", "fieldinits", "mapinits") and len(node.children) > MAX_LIST:
            raise ExpressionError(
                _("A list may hold at most %(limit)s items.") % {"limit": MAX_LIST}
            )


def _depth(tree: lark.Tree) -> int:
    """How deep the syntax tree goes (without recursion: that is what is being bounded)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))
    return deepest


def _syntax_message(expression: str, fault: celpy.CELParseError) -> str:
    line, column = fault.line or 1, fault.column or 1
    cause = fault.__context__
    text = getattr(cause, "char", None) or str(getattr(cause, "token", "") or "")
    if not text:  # the parser reports the last token; the fault is just after the end
        lines = expression.rstrip().splitlines()
        line, column = len(lines), len(lines[-1]) + 1
        return _(
            "Syntax error at line %(line)s, column %(column)s: the expression ends too early."
        ) % {"line": line, "column": column}
    return _('Syntax error at line %(line)s, column %(column)s: unexpected "%(text)s".') % {
        "line": line,
        "column": column,
        "text": text,
    }


def _at(token) -> dict:
    return {"line": getattr(token, "line", "?"), "column": getattr(token, "column", "?")}


class _Names:
    """Walks the syntax tree: every name must be a variable, a known function or a
    macro's own variable (`score.exists(x, x < 60)`); returns the variables read."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def names(self, tree: lark.Tree) -> frozenset[str]:
        self._walk(tree, frozenset(), 0)
        return frozenset(self.used)

    def _walk(self, node, bound: frozenset[str], depth: int) -> None:
        if not isinstance(node, lark.Tree):
            return
        handler = getattr(self, f"_{node.data}", None)
        if handler is not None and handler(node, bound, depth):
            return
        for child in node.children:
            self._walk(child, bound, depth)

    def _ident(self, node, bound, depth) -> bool:
        token = node.children[0]
        if token in bound:
            return True
        if token not in VARIABLES:
            raise ExpressionError(
                _('Line %(line)s, column %(column)s: there is no variable "%(name)s".')
                % {**_at(token), "name": token}
            )
        self.used.add(str(token))
        return True

    def _ident_arg(self, node, bound, depth) -> bool:
        token = node.children[0]
        if token not in OWN_FUNCTIONS and token not in CEL_FUNCTIONS:
            raise _unknown_function(token)
        return False

    def _member_dot(self, node, bound, depth) -> bool:
        token = node.children[1]
        if str(token).startswith("_"):  # nothing a rule reads begins so; keep Python out
            raise ExpressionError(
                _('Line %(line)s, column %(column)s: there is no field "%(name)s".')
                % {**_at(token), "name": token}
            )
        return False

    def _member_dot_arg(self, node, bound, depth) -> bool:
        member, token, *rest = node.children
        if token not in MACROS:
            if token not in CEL_FUNCTIONS and token not in OWN_FUNCTIONS:
                raise _unknown_function(token)
            return False
        if depth >= MAX_MACRO_DEPTH:
            raise ExpressionError(
                _("Line %(line)s, column %(column)s: at most %(depth)s nested %(name)s().")
                % {**_at(token), "depth": MAX_MACRO_DEPTH, "name": token}
            )
        self._walk(member, bound, depth)
        arguments = rest[0].children if rest else []
        variable = _macro_variable(arguments, token)
        for argument in arguments[1:]:
            self._walk(argument, bound | {variable}, depth + 1)
        return True


def _unknown_function(token) -> ExpressionError:
    return ExpressionError(
        _('Line %(line)s, column %(column)s: there is no function "%(name)s".')
        % {**_at(token), "name": token}
    )


def _macro_variable(arguments: list, token) -> str:
    """The name a macro binds: its first argument must be a bare name."""
    names = list(arguments[0].scan_values(lambda v: isinstance(v, lark.Token))) if arguments else []
    idents = list(arguments[0].find_data("ident")) if arguments else []
    if len(arguments) < 2 or len(names) != 1 or len(idents) != 1:
        raise ExpressionError(
            _("Line %(line)s, column %(column)s: %(name)s() takes a name and a condition, "
              "as in score.%(name)s(x, x < 80).") % {**_at(token), "name": token}
        )  # fmt: skip
    return str(names[0])


SAMPLE = {
    "score": [Decimal(90)] * MONTHS,
    "attainment": {},
    "pending_documents": 0,
    "days_since_delivery": 0,
    "overdue_tasks": 0,
    "tenure_days": 365,
    "position": "",
    "unit": "",
}


def _check_result(compiled: Compiled) -> None:
    """The result must be true or false: tried on a sample employee (an error there, such
    as a metric the sample lacks, is left to the real figures)."""
    try:
        result = compiled.program.evaluate(_activation(SAMPLE, compiled.variables))
    except CELEvalError:
        return
    if not isinstance(result, celtypes.BoolType):
        raise ExpressionError(
            _("The expression must give true or false; it gives %(value)s.")
            % {"value": _shown(result)}
        )


def _shown(value) -> str:
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("a map")
    if value is None:
        return "null"
    if isinstance(value, str):
        return _('the text "%(text)s"') % {"text": value[:40]}
    return str(value)[:40]


# --- evaluating ------------------------------------------------------------------------------

_errors: ContextVar[list | None] = ContextVar("expression_errors", default=None)


@contextlib.contextmanager
def collect_errors() -> Iterator[list[tuple[str, str]]]:
    """Collects (employee number, error) of the evaluations inside, for the preview."""
    errors: list[tuple[str, str]] = []
    token = _errors.set(errors)
    try:
        yield errors
    finally:
        _errors.reset(token)


def evaluate_rule(spec, params: dict, now: dt.datetime, tz, people) -> list:
    """The employees of `people` for whom the expression is true at `now`; the period of
    each finding is the last complete month."""
    from kaohe.alerts.kinds import Finding

    compiled = compile_expression(params["expression"])
    today = now.astimezone(tz).date()
    periods = complete_periods(PeriodKind.MONTH, today, MONTHS)
    rows = list(
        people.order_by("pk").values_list(
            "pk", "employee_no", "position", "hire_date", "org_unit__code"
        )
    )
    findings, failures = [], []
    for at in range(0, len(rows), CHUNK):
        chunk = rows[at : at + CHUNK]
        figures = _Figures(chunk, compiled.variables, periods, now, tz)
        for employee_id, employee_no, *_rest in chunk:
            values = figures.of(employee_id)
            try:
                result = compiled.program.evaluate(_activation(values, compiled.variables))
            except CELEvalError as fault:
                failures.append((employee_no, _first_line(fault)))
                continue
            if not isinstance(result, celtypes.BoolType):
                failures.append((employee_no, f"not true or false: {_shown(result)}"))
            elif result:
                findings.append(
                    Finding(employee_id, employee_no, periods[-1].label,
                            {"expression": params["expression"], **_json(values)})
                )  # fmt: skip
    _report(failures, params["expression"])
    return findings


def _first_line(fault: CELEvalError) -> str:
    """Why the evaluation failed, for the log and the preview: most often a null figure
    (a month without agreement or data) in a comparison."""
    text = str(fault.args[0]) if fault.args else str(fault)
    if "NoneType" in text or "NullType" in text:
        return _("a figure is null (no target or no data that month)")
    return text.splitlines()[0][:200]


def _report(failures: list[tuple[str, str]], expression: str) -> None:
    if not failures:
        return
    logger.warning(
        "custom rule %r failed for %d employees (not flagged), e.g. %s: %s",
        expression, len(failures), *failures[0],
    )  # fmt: skip
    collected = _errors.get()
    if collected is not None:
        collected.extend(failures)


def _activation(values: dict, names) -> dict:
    return {name: _cel(values[name]) for name in names}


def _cel(value):
    if isinstance(value, Decimal):
        return celtypes.DoubleType(float(value))
    if isinstance(value, list):
        return celtypes.ListType([_cel(v) for v in value])
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k): _cel(v) for k, v in value.items()})
    return json_to_cel(value)


def _json(values: dict):
    if isinstance(values, Decimal):
        return str(values.quantize(Decimal("0.01")))
    if isinstance(values, list):
        return [_json(v) for v in values]
    if isinstance(values, dict):
        return {k: _json(v) for k, v in values.items()}
    return values


class _Figures:
    """The variables of a chunk of employees, read with a few queries, only those the
    expression uses."""

    def __init__(self, chunk, names, periods, now: dt.datetime, tz) -> None:
        self.rows = {row[0]: row for row in chunk}
        self.names, self.periods, self.now, self.tz = names, periods, now, tz
        self.today = now.astimezone(tz).date()
        ids = list(self.rows)
        self.score = self._scores(ids) if "score" in names else {}
        self.attainment = self._attainment(ids) if "attainment" in names else {}
        wants_documents = {"pending_documents", "days_since_delivery"} & names
        self.documents = self._documents(ids) if wants_documents else {}
        self.overdue = self._overdue(ids) if "overdue_tasks" in names else Counter()

    def of(self, employee_id: int) -> dict:
        _pk, _no, position, hire_date, unit = self.rows[employee_id]
        count, oldest = self.documents.get(employee_id, (0, None))
        values = {
            "score": self.score.get(employee_id, [None] * len(self.periods)),
            "attainment": self.attainment.get(employee_id, {}),
            "pending_documents": count,
            "days_since_delivery": (self.today - oldest).days if oldest else 0,
            "overdue_tasks": self.overdue[employee_id],
            "tenure_days": (self.today - hire_date).days,
            "position": position,
            "unit": unit or "",
        }
        return {name: values[name] for name in self.names}

    def _scores(self, ids) -> dict[int, list]:
        series = attainment_series(ids, self.periods, None, self.today)
        return {s.employee_id: s.values for s in series}

    def _attainment(self, ids) -> dict[int, dict[str, list]]:
        start, end = self.periods[0].start, self.periods[-1].end
        versions = dict(
            TargetAgreement.objects.filter(
                employee_id__in=ids,
                in_force__isnull=False,
                period_start__lt=end,
                period_start__gt=add_months(start, -12),
            ).values_list("in_force_id", "employee_id")
        )
        holders: dict[int, set[int]] = defaultdict(set)
        items = AgreementItem.objects.filter(version_id__in=list(versions))
        for version_id, metric_id in items.values_list("version_id", "metric_id"):
            holders[metric_id].add(versions[version_id])
        found: dict[int, dict[str, list]] = defaultdict(dict)
        for metric in Metric.objects.filter(pk__in=list(holders)):
            for s in attainment_series(holders[metric.pk], self.periods, metric, self.today):
                found[s.employee_id][metric.code] = s.values
        return found

    def _documents(self, ids) -> dict[int, tuple[int, dt.date]]:
        """Per employee: how many documents await their signature, and since when (the
        same documents the unconfirmed-document rule chases)."""
        agreements = (
            awaiting_without_document()
            .filter(published_at__lte=self.now, agreement__employee_id__in=ids)
            .values("agreement__employee_id")
            .annotate(count=Count("pk"), oldest=Min("published_at"))
            .values_list("agreement__employee_id", "count", "oldest")
        )
        documents = (
            Document.objects.filter(
                state=DocumentState.PENDING,
                kind__in=CHASED_KINDS,
                issued_at__lte=self.now,
                employee_id__in=ids,
            )
            .values("employee_id")
            .annotate(count=Count("pk"), oldest=Min("issued_at"))
            .values_list("employee_id", "count", "oldest")
        )
        found: dict[int, tuple[int, dt.datetime]] = {}
        for employee_id, count, oldest in [*agreements, *documents]:
            if employee_id in found:
                before, since = found[employee_id]
                count, oldest = count + before, min(oldest, since)
            found[employee_id] = (count, oldest)
        tz = self.tz
        return {e: (count, oldest.astimezone(tz).date()) for e, (count, oldest) in found.items()}

    def _overdue(self, ids) -> Counter:
        tasks = Task.objects.filter(
            Q(done_at__isnull=True) | Q(done_at__gt=self.now),
            plan__employee_id__in=ids,
            plan__status=PlanStatus.OPEN,
            due_on__lt=self.today,
        )
        return Counter(tasks.values_list("plan__employee_id", flat=True))
