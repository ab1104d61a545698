"""kaohe's benchmarks: one module per topic in this package, found by `bench/run.py`.

A benchmark is a function decorated with `@benchmark`. It receives a scratch directory
(under $KAOHE_DATA_DIR, next to the fresh database) and returns a dict of named
`Measurement`s. Measure a baseline in the same run (the same work done the plainest way
possible) and give a target for the ratio, so results compare across machines.
"""

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Benchmark = Callable[[Path], dict[str, "Measurement"]]
REGISTRY: dict[str, Benchmark] = {}


@dataclass
class Measurement:
    """One number. With a baseline, `target` bounds the ratio value/baseline; without
    one, it bounds the value itself. No target: reported for information, always ok."""

    value: float
    unit: str = "s"
    baseline: float | None = None
    target: float | None = None
    higher_is_better: bool = False  # then `target` is a floor instead of a ceiling

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        measured = self.ratio if self.baseline is not None else self.value
        if measured is None:
            return False
        return measured >= self.target if self.higher_is_better else measured <= self.target

    def as_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": self.target,
            "target_is": "minimum" if self.higher_is_better else "maximum",
            "ok": self.ok,
        }


def benchmark(func: Benchmark) -> Benchmark:
    """Registers `func` as "<module>.<function>"."""
    REGISTRY[f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}"] = func
    return func


def discover() -> dict[str, Benchmark]:
    """Imports every module of this package so that their benchmarks register."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


def timed(func: Callable, *args, **kwargs) -> tuple[float, Any]:
    """(seconds taken, result) of one call, by the monotonic high-resolution clock."""
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - started, result
