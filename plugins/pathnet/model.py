"""The PathNet model: L layers of M linear modules, frozen masks, one head per task, saved to a file.

A *path* picks N modules in each layer; a layer's output is the sum of its chosen modules'
``relu(x @ W.T + b)``, exactly the contract of :func:`emokit.kernels.multipath_linear`, so a whole
population runs through :func:`emokit.kernels.population_forward` in one call. Every module of a
layer has the same width, so any path can be followed by any head.

The input stage is the feature vector itself: eGeMAPS functionals for speech, the flattened 48x48
face crop for faces (the ``face`` features), z-scored per corpus with the statistics of its training
speakers. The baselines see the very same input, so a comparison isolates the transfer method; a
conv stem would have to be shared by every path and would carry knowledge across tasks outside the
frozen modules, which is not what PathNet measures.

After a task, its best path's modules are frozen: they are never updated again but can be chosen by
the paths of later tasks. ``owner`` records which task froze each module, so a transfer can report
which source knowledge the target reuses.

Devices: the modules, the heads and the input scaling live on the model's :attr:`PathNet.device`
(``PathNet(..., device=...)``, :meth:`PathNet.to`); the integer bookkeeping (frozen masks, owners,
paths) stays on the host. Every random draw is made on the CPU generator given and then moved to the
device, so a seed gives the same initial weights on every device. :meth:`PathNet.save` writes CPU
tensors, so a model trained on a GPU loads anywhere.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emokit.api import kernels

#: what :meth:`PathNet.save` writes in the file's ``format`` field
FILE_FORMAT = "emokit-pathnet"
FILE_VERSION = 1


@dataclass(frozen=True)
class Architecture:
    """The shape of a PathNet.

    Attributes:
        input_dim: features per sample (88 for eGeMAPS, 2304 for 48x48 face crops).
        layers: L, layers of modules (default 3, as in Fernando et al.'s supervised tasks).
        modules: M, modules per layer (default 10, their binary-MNIST setting).
        active: N, modules a path uses per layer (default 3).
        width: units of every module (default 64; the paper's were 20, our inputs are wider).
    """

    input_dim: int
    layers: int = 3
    modules: int = 10
    active: int = 3
    width: int = 64

    def __post_init__(self) -> None:
        for name in ("input_dim", "layers", "modules", "active", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PathNet {name} must be a positive integer, got {value!r}")


@dataclass
class TaskRecord:
    """A task the model has learnt: its classes, head, best path and input scaling.

    Attributes:
        name: the task's name (a corpus name in the bench).
        classes: the class names the head's outputs stand for, in order.
        head_weight, head_bias: ``[C, width]`` and ``[C]``, on the model's device.
        path: int64 ``[L, N]``, the best path found for this task (on the host).
        input_mean, input_scale: float32 ``[input_dim]``, the z-scoring of the task's inputs, on the
            model's device.
        facts: JSON-ready numbers about how the task was learnt (fitness, validation UAR, ...).
    """

    name: str
    classes: list[str]
    head_weight: torch.Tensor
    head_bias: torch.Tensor
    path: torch.Tensor
    input_mean: torch.Tensor
    input_scale: torch.Tensor
    facts: dict[str, Any]


class PathNet:
    """Modules, frozen masks and the tasks learnt so far.

    Attributes:
        arch: the :class:`Architecture`.
        weights, biases: per layer, ``[M, width, D_in]`` and ``[M, width]`` leaf tensors on
            :attr:`device` (trained in place by :mod:`emokit_plugins.pathnet.search`).
        frozen: bool ``[L, M]`` (on the host), modules that belong to an earlier task's best path.
        owner: int64 ``[L, M]`` (on the host), index into :attr:`tasks` of the task that froze each
            module, -1 if none.
        tasks: the tasks learnt, in order.

    Args:
        arch: the architecture.
        generator: a CPU generator the initial weights are drawn from (default: seed 0).
        device: where the modules live (``"cpu"``, ``"cuda:0"``, ...).
    """

    def __init__(
        self,
        arch: Architecture,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        self.arch = arch
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        device = torch.device(device)
        fan_in = arch.input_dim
        for _ in range(arch.layers):
            self.weights.append(
                torch.empty(arch.modules, arch.width, fan_in, device=device, requires_grad=True)
            )
            self.biases.append(torch.empty(arch.modules, arch.width, device=device, requires_grad=True))
            fan_in = arch.width
        self.frozen = torch.zeros(arch.layers, arch.modules, dtype=torch.bool)
        self.owner = torch.full((arch.layers, arch.modules), -1, dtype=torch.long)
        self.tasks: list[TaskRecord] = []
        self.reinitialise_unfrozen(generator or torch.Generator().manual_seed(0))

    # -- parameters ------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """The device the modules (and the tasks' heads and input scaling) are on."""
        return self.weights[0].device

    def to(self, device: str | torch.device) -> PathNet:
        """Move the modules, heads and input scaling to ``device`` (in place); returns the model.

        The modules stay leaf tensors that require grad; the host bookkeeping does not move.
        """
        device = torch.device(device)
        if device == self.device:
            return self
        self.weights = [w.detach().to(device).requires_grad_() for w in self.weights]
        self.biases = [b.detach().to(device).requires_grad_() for b in self.biases]
        for t in self.tasks:
            t.head_weight = t.head_weight.detach().to(device)
            t.head_bias = t.head_bias.detach().to(device)
            t.input_mean = t.input_mean.to(device)
            t.input_scale = t.input_scale.to(device)
        return self

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weight, bias)`` per layer, as :func:`emokit.kernels.population_forward` takes them."""
        return list(zip(self.weights, self.biases, strict=True))

    @torch.no_grad()
    def reinitialise_unfrozen(self, generator: torch.Generator) -> None:
        """Draw fresh weights for every module that is not frozen (frozen ones keep theirs).

        Uniform in +-1/sqrt(fan_in), as ``torch.nn.Linear`` initialises. The draws are made on the
        CPU ``generator`` and moved to the model's device: the same weights on every device.
        """
        for layer, (weight, bias) in enumerate(self.layers()):
            bound = 1.0 / math.sqrt(weight.shape[-1])
            fresh_w = torch.empty(weight.shape, dtype=weight.dtype).uniform_(
                -bound, bound, generator=generator
            )
            fresh_b = torch.empty(bias.shape, dtype=bias.dtype).uniform_(-bound, bound, generator=generator)
            fresh_w, fresh_b = fresh_w.to(weight.device), fresh_b.to(bias.device)
            keep = self.frozen[layer].to(weight.device)
            weight.copy_(torch.where(keep[:, None, None], weight, fresh_w))
            bias.copy_(torch.where(keep[:, None], bias, fresh_b))

    def new_head(self, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A freshly initialised task head ``([C, width], [C])`` on the model's device (leaf tensors
        that require grad), drawn on the CPU ``generator``."""
        bound = 1.0 / math.sqrt(self.arch.width)
        weight = torch.empty(num_classes, self.arch.width).uniform_(-bound, bound, generator=generator)
        bias = torch.empty(num_classes).uniform_(-bound, bound, generator=generator)
        return weight.to(self.device).requires_grad_(), bias.to(self.device).requires_grad_()

    def state(self) -> list[torch.Tensor]:
        """Copies of every module parameter (for snapshots; see :meth:`load_state`)."""
        return [t.detach().clone() for t in (*self.weights, *self.biases)]

    @torch.no_grad()
    def load_state(self, state: list[torch.Tensor]) -> None:
        """Put back parameters taken by :meth:`state`."""
        for tensor, saved in zip((*self.weights, *self.biases), state, strict=True):
            tensor.copy_(saved)

    # -- tasks -----------------------------------------------------------------------------------
    def check_path(self, path: torch.Tensor) -> torch.Tensor:
        """``path`` as int64 ``[L, N]`` on the host after checking its shape and range."""
        path = torch.as_tensor(path, dtype=torch.long, device="cpu")
        if path.dim() != 2 or path.shape[0] != self.arch.layers:
            raise ValueError(f"a path must be [L={self.arch.layers}, N], got {list(path.shape)}")
        if path.numel() and (path.min() < 0 or path.max() >= self.arch.modules):
            raise ValueError(f"a path's modules must be in [0, {self.arch.modules}), got {path.tolist()}")
        return path

    def add_task(self, record: TaskRecord, *, freeze: bool = True) -> None:
        """Record a learnt task and (by default) freeze its best path's modules."""
        if any(t.name == record.name for t in self.tasks):
            raise ValueError(f"the model already has a task named {record.name!r}")
        record.path = self.check_path(record.path)
        self.tasks.append(record)
        if freeze:
            index = len(self.tasks) - 1
            for layer, row in enumerate(record.path):
                for module in row.tolist():
                    if not self.frozen[layer, module]:
                        self.frozen[layer, module] = True
                        self.owner[layer, module] = index

    def task(self, name: str) -> TaskRecord:
        for record in self.tasks:
            if record.name == name:
                return record
        known = ", ".join(t.name for t in self.tasks) or "none"
        raise KeyError(f"the model has no task {name!r} (it has: {known})")

    def reused_modules(self, path: torch.Tensor, by: str | None = None) -> list[dict[str, Any]]:
        """The modules frozen by earlier tasks that ``path`` uses: ``{"layer", "module", "from"}``
        each (1-based layer). ``by`` names the task ``path`` belongs to: its own modules are not
        counted as reused."""
        path = self.check_path(path)
        out = []
        for layer, row in enumerate(path):
            for module in sorted(set(row.tolist())):
                owner = int(self.owner[layer, module])
                if owner >= 0 and self.tasks[owner].name != by:
                    out.append({"layer": layer + 1, "module": module, "from": self.tasks[owner].name})
        return out

    @torch.no_grad()
    def logits(self, name: str, X: np.ndarray | torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
        """Logits ``[n, C]`` (on the model's device) of task ``name``'s best path for raw (not yet
        z-scored) inputs ``X`` (an array, or a tensor on any device)."""
        record = self.task(name)
        device = self.device
        if isinstance(X, torch.Tensor):
            x = X.detach().to(torch.float32)
        else:
            x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        if x.dim() != 2 or x.shape[1] != self.arch.input_dim:
            raise ValueError(
                f"inputs for task {name!r} must be [n, {self.arch.input_dim}], got {list(x.shape)}"
            )
        if x.shape[0] == 0:
            return torch.zeros(0, len(record.classes), device=device)
        x = (x.to(device) - record.input_mean.to(device)) / record.input_scale.to(device)
        out = kernels.population_forward(
            x,
            self.layers(),
            record.path[None].to(device),
            record.head_weight.to(device),
            record.head_bias.to(device),
            backend=backend,
        )
        return out.logits[0]

    def predict(self, name: str, X: np.ndarray | torch.Tensor, *, backend: str | None = None) -> np.ndarray:
        """Class indices (into the task's ``classes``) predicted by task ``name``'s best path, as a
        NumPy int64 array whatever the model's device."""
        return self.logits(name, X, backend=backend).argmax(-1).cpu().numpy()

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write modules, frozen masks, owners and every task (head, best path, scaling) to ``path``.

        The file holds only tensors, strings and numbers, so :meth:`load` reads it with
        ``torch.load(weights_only=True)`` (no code is unpickled). The tensors are written from the
        CPU, so a model trained on a GPU loads on a machine without one.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "architecture": asdict(self.arch),
            "weights": [w.detach().cpu().clone() for w in self.weights],
            "biases": [b.detach().cpu().clone() for b in self.biases],
            "frozen": self.frozen.cpu().clone(),
            "owner": self.owner.cpu().clone(),
            "tasks": [
                {
                    "name": t.name,
                    "classes": list(t.classes),
                    "head_weight": t.head_weight.detach().cpu().clone(),
                    "head_bias": t.head_bias.detach().cpu().clone(),
                    "path": t.path.cpu().clone(),
                    "input_mean": t.input_mean.cpu().clone(),
                    "input_scale": t.input_scale.cpu().clone(),
                    "facts": t.facts,
                }
                for t in self.tasks
            ],
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> PathNet:
        """Read a model written by :meth:`save` onto ``device`` (the file is read on the CPU, then
        moved); a file that is not one gives a clear error."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"PathNet model {path} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and torch errors alike: the file is not ours
            raise ValueError(
                f"{path} is not an emokit PathNet model file ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
            raise ValueError(f"{path} is not an emokit PathNet model file (no format {FILE_FORMAT!r})")
        if payload.get("version") != FILE_VERSION:
            raise ValueError(
                f"{path} is a PathNet file of version {payload.get('version')}; "
                f"this emokit reads version {FILE_VERSION}"
            )
        model = cls(Architecture(**payload["architecture"]))
        model.load_state([*payload["weights"], *payload["biases"]])
        model.frozen = payload["frozen"].clone()
        model.owner = payload["owner"].clone()
        for t in payload["tasks"]:
            model.tasks.append(
                TaskRecord(
                    name=t["name"],
                    classes=list(t["classes"]),
                    head_weight=t["head_weight"],
                    head_bias=t["head_bias"],
                    path=t["path"],
                    input_mean=t["input_mean"],
                    input_scale=t["input_scale"],
                    facts=dict(t["facts"]),
                )
            )
        return model.to(device)
