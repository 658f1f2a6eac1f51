"""What ``emokit profile`` measures: the grid of population sizes and its options."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import product
from typing import Any

import torch

#: Tolerance of the extension against the fallback in float32 (sums of K ReLU GEMMs, and gradients
#: summed over P * B rows): ``rtol`` and ``atol * max(1, max |reference|)``.
RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}
ATOL = {torch.float32: 1e-4, torch.float64: 1e-10}
DTYPES = {"float32": torch.float32, "float64": torch.float64}

# --- configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPoint:
    """One population size of the grid: P paths, batch B, Din -> Dout, M modules, K slots, L layers."""

    paths: int
    batch: int
    din: int
    dout: int
    modules: int
    slots: int
    layers: int

    def label(self) -> str:
        width = str(self.din) if self.din == self.dout else f"{self.din}->{self.dout}"
        return f"P={self.paths} B={self.batch} D={width} M={self.modules} K={self.slots} L={self.layers}"


@dataclass(frozen=True)
class ProfileConfig:
    """What :func:`run_profile` measures; the grid is the product of the tuples.

    Attributes:
        paths, batch, modules, slots, layers: grid values of P, B, M, K, L.
        widths: layer widths D (Din = Dout = D in every layer); replaced by ``din`` x ``dout`` when
            both are given (first layer Din -> Dout, deeper layers Dout -> Dout).
        classes: C, classes of the task head.
        convergence: fractions of the population that are copies of one elite path (0 = random,
            1 = fully converged); each grid point is measured at each.
        repeats: timed rounds per measurement; ``budget_s`` may lower it (to no fewer than 3) for a
            configuration whose round takes long, and each record says how many it got.
        warmup: untimed calls of each candidate before timing; the correctness check's call is the
            first of them, so there is always at least one.
        budget_s: seconds of timing a measurement should take at most, ``None``: no limit.
        device: ``cpu`` or ``cuda`` (``cuda:N``); dtype: ``float32`` or ``float64``.
        seed: seed of every random input and population.
        threads: ``torch.set_num_threads`` for the run, ``None`` to keep torch's default.
    """

    paths: tuple[int, ...] = (64,)
    batch: tuple[int, ...] = (256, 1024)
    widths: tuple[int, ...] = (128, 256)
    din: tuple[int, ...] | None = None
    dout: tuple[int, ...] | None = None
    modules: tuple[int, ...] = (20,)
    slots: tuple[int, ...] = (3,)
    layers: tuple[int, ...] = (3,)
    classes: int = 6
    convergence: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0)
    repeats: int = 5
    warmup: int = 1
    budget_s: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    threads: int | None = None

    def validate(self) -> None:
        """Raise ValueError naming the option (as ``emokit profile`` spells it) of a bad value."""
        positive = {
            "--paths": self.paths,
            "--batch": self.batch,
            "--width": self.widths,
            "--modules": self.modules,
            "--slots": self.slots,
            "--layers": self.layers,
        }
        if self.din is not None or self.dout is not None:
            positive.update({"--din": self.din or (), "--dout": self.dout or ()})
            if not self.din or not self.dout:
                raise ValueError("--din and --dout: give both (the grid is Din x Dout) or neither")
        for option, values in positive.items():
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{option} {_show(values)}: expected positive integers, e.g. 64 or 128,256")
        if max(self.slots) > min(self.modules):
            raise ValueError(
                f"--slots {_show(self.slots)} with --modules {_show(self.modules)}: a path's K slots hold "
                "distinct modules, so K must not exceed M"
            )
        if not self.convergence or any(not 0.0 <= c <= 1.0 for c in self.convergence):
            raise ValueError(
                f"--convergence {_show(self.convergence)}: expected fractions in [0, 1], e.g. 0,0.5,1"
            )
        checks = [
            (self.classes >= 1, f"--classes {self.classes}: expected a positive integer"),
            (self.repeats >= 1, f"--repeats {self.repeats}: expected a positive integer"),
            (self.warmup >= 0, f"--warmup {self.warmup}: expected 0 or more"),
            (self.threads is None or self.threads >= 1, f"--threads {self.threads}: expected >= 1"),
            (self.budget_s is None or self.budget_s > 0, f"--budget {self.budget_s}: expected seconds > 0"),
            (self.dtype in DTYPES, f"--dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self._validate_device()

    def _validate_device(self) -> None:
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"--device {self.device!r}: expected cpu or cuda") from None
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"--device {self.device!r}: expected cpu or cuda")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {self.device}: torch sees no CUDA device here")

    def shapes(self) -> list[tuple[int, int]]:
        """The (Din, Dout) pairs of the grid."""
        if self.din and self.dout:
            return list(product(self.din, self.dout))
        return [(d, d) for d in self.widths]

    def grid(self) -> Iterator[GridPoint]:
        """Every grid point, smallest loops innermost: P, B, (Din, Dout), M, K, L."""
        for p, b, (din, dout), m, k, layers in product(
            self.paths, self.batch, self.shapes(), self.modules, self.slots, self.layers
        ):
            yield GridPoint(p, b, din, dout, m, k, layers)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(v) if isinstance(v, tuple) else v for key, v in data.items()}


def _show(values: Sequence[Any] | None) -> str:
    return ",".join(str(v) for v in values) if values else "''"


#: A grid that runs in seconds: for tests and a first look (``emokit profile --quick``).
QUICK_CONFIG = ProfileConfig(
    paths=(8,),
    batch=(32,),
    widths=(32,),
    modules=(6,),
    slots=(2,),
    layers=(2,),
    convergence=(0.0, 1.0),
    repeats=3,
    warmup=1,
)


#: ``emokit profile`` options that take comma-separated lists: config field -> (option, type).
LIST_OPTIONS: dict[str, tuple[str, type]] = {
    "paths": ("--paths", int),
    "batch": ("--batch", int),
    "widths": ("--width", int),
    "din": ("--din", int),
    "dout": ("--dout", int),
    "modules": ("--modules", int),
    "slots": ("--slots", int),
    "layers": ("--layers", int),
    "convergence": ("--convergence", float),
}


def parse_list(value: str, option: str, kind: type = int) -> tuple[Any, ...]:
    """``"128,256"`` -> ``(128, 256)``; ValueError naming ``option`` when an item is not a ``kind``."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        if not items:
            raise ValueError
        return tuple(kind(v) for v in items)
    except ValueError:
        what = "integers, e.g. 128,256" if kind is int else "numbers, e.g. 0,0.5,1"
        raise ValueError(f"{option} {value!r}: expected a comma-separated list of {what}") from None


def config_from_options(*, quick: bool = False, **options: Any) -> ProfileConfig:
    """The config of ``emokit profile``: the default grid (or :data:`QUICK_CONFIG`) with the options
    given (``None`` = not given; list options as strings, see :data:`LIST_OPTIONS`), validated.

    Raises:
        ValueError: a bad value; the message names the option.
    """
    changes = {}
    for name, value in options.items():
        if value is None:
            continue
        if name in LIST_OPTIONS:
            option, kind = LIST_OPTIONS[name]
            value = parse_list(value, option, kind)
        changes[name] = value
    config = replace(QUICK_CONFIG if quick else ProfileConfig(), **changes)
    config.validate()
    return config
