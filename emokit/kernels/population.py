"""The population forward: every path of a PathNet population through L layers and a task head.

This is the call the genetic search makes (the contract in csrc/multipath.h): logits [P, B, C] and each path's
fitness (accuracy and mean cross-entropy) for one batch, differentiable, so a whole population can
also be trained in one step. Two kinds of sharing make it cheaper than P separate forwards:

* the first layer's input is the batch itself, the same for every path: it goes to
  :func:`~emokit.kernels.multipath_linear` as one shared [B, Din] tensor, and the kernels compute each
  module's output on it once;
* paths that chose the same modules in layers 1..l (in any slot order: a layer sums its slots) have
  the same hidden state after layer l, which is computed once for all of them. Populations converge
  as the search goes on, so this saving grows with it; a fully converged population costs one path.

Which backend runs the layers is the ``backend`` argument or ``EMOKIT_BACKEND`` (see
:mod:`emokit.kernels`); the sharing is the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Layer = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class PopulationOutput:
    """What :func:`population_forward` returns.

    Attributes:
        logits: [P, B, C], path p's logits for each sample.
        loss: [P] mean cross-entropy of each path over the batch (differentiable), or ``None``
            without targets.
        accuracy: [P] fraction of the batch each path classifies right, or ``None`` without targets.
        distinct: number of distinct hidden states computed after each layer (P at most): how much
            the population shared.
    """

    logits: torch.Tensor
    loss: torch.Tensor | None
    accuracy: torch.Tensor | None
    distinct: tuple[int, ...]


@dataclass(frozen=True)
class PrefixGroups:
    """The paths grouped by identical prefixes, layer by layer (the plan of :func:`population_forward`).

    Attributes:
        idx: per layer, the distinct prefixes' module table [U_l, K] (slots sorted).
        parent: per layer, for each distinct prefix of that layer the distinct prefix of the layer
            before it ([U_l] int64; ``None`` for the first layer, whose input is shared).
        group: [P], the distinct final prefix of each path.
    """

    idx: tuple[torch.Tensor, ...]
    parent: tuple[torch.Tensor | None, ...]
    group: torch.Tensor


def group_prefixes(paths: torch.Tensor, share: bool = True) -> PrefixGroups:
    """Group the paths of a population [P, L, K] by identical prefixes, layer after layer.

    With ``share=False`` each path is its own group (every prefix computed separately).
    """
    num_paths, num_layers, _ = paths.shape
    if not share:
        every = torch.arange(num_paths, device=paths.device)
        layer_idx = tuple(paths[:, layer].contiguous() for layer in range(num_layers))
        return PrefixGroups(layer_idx, (None, *([every] * (num_layers - 1))), every)
    canonical = paths.sort(dim=-1).values  # the slots of a layer are summed: their order is immaterial
    layer_idx: list[torch.Tensor] = []
    parents: list[torch.Tensor | None] = []
    group = torch.zeros(num_paths, dtype=torch.long, device=paths.device)
    for layer in range(num_layers):
        key = torch.cat([group.unsqueeze(1).to(canonical.dtype), canonical[:, layer]], dim=1)
        distinct, group = torch.unique(key, dim=0, return_inverse=True)
        layer_idx.append(distinct[:, 1:].contiguous())
        parents.append(None if layer == 0 else distinct[:, 0].long())
    return PrefixGroups(tuple(layer_idx), tuple(parents), group)


def _check(
    x: torch.Tensor,
    layers: Sequence[Layer],
    paths: torch.Tensor,
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
    targets: torch.Tensor | None,
) -> None:
    pre = "emokit.population_forward:"
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{pre} x must be the batch shared by every path, [B, Din], got {got}")
    if len(layers) == 0:
        raise ValueError(f"{pre} layers must hold at least one (weight, bias) pair")
    if not isinstance(paths, torch.Tensor) or paths.dtype not in (torch.int32, torch.int64):
        got = paths.dtype if isinstance(paths, torch.Tensor) else type(paths).__name__
        raise TypeError(f"{pre} paths must be an int32 or int64 tensor [P, L, K], got {got}")
    if paths.dim() != 3 or paths.shape[1] != len(layers):
        raise ValueError(
            f"{pre} paths must have shape [P, L={len(layers)}, K] (one row of K modules per layer), "
            f"got {list(paths.shape)}"
        )
    width = layers[-1][0].shape[1]
    if head_weight.dim() not in (2, 3) or head_weight.shape[-1] != width:
        raise ValueError(
            f"{pre} head_weight must be [C, {width}] (one head) or [P, C, {width}] (one per path), "
            f"got {list(head_weight.shape)}"
        )
    if head_weight.dim() == 3 and head_weight.shape[0] != paths.shape[0]:
        raise ValueError(
            f"{pre} head_weight is one head per path, so it must be [P={paths.shape[0]}, C, {width}], "
            f"got {list(head_weight.shape)}"
        )
    expected_bias = list(head_weight.shape[:-1])
    if list(head_bias.shape) != expected_bias:
        raise ValueError(f"{pre} head_bias must have shape {expected_bias}, got {list(head_bias.shape)}")
    if targets is not None and (targets.dim() != 1 or targets.shape[0] != x.shape[0]):
        raise ValueError(f"{pre} targets must have shape [B={x.shape[0]}], got {list(targets.shape)}")


def population_forward(
    x: torch.Tensor,
    layers: Sequence[Layer],
    paths: torch.Tensor,
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    backend: str | None = None,
    share_prefixes: bool = True,
) -> PopulationOutput:
    """Logits and fitness of every path of a population on one batch, in one call.

    Args:
        x: [B, Din] float, the batch (shared by every path).
        layers: L pairs (weight [M_l, D_l, D_{l-1}], bias [M_l, D_l]), the modules of each layer.
        paths: int [P, L, K]: path p's module in slot k of layer l, ``-1`` for an empty slot.
        head_weight: [C, D_L], the task's head shared by the population, or [P, C, D_L], one per path.
        head_bias: [C] or [P, C], matching ``head_weight``.
        targets: int64 [B] class of each sample; gives ``loss`` and ``accuracy``.
        backend: ``auto``, ``torch`` or ``ext`` for the layers; ``None`` reads ``EMOKIT_BACKEND``.
        share_prefixes: compute the hidden state of identical prefixes once (default). ``False``
            computes every path separately: the same numbers, for measuring what sharing saves.

    Returns:
        :class:`PopulationOutput`.

    Raises:
        TypeError, ValueError: bad arguments, named in the message; those of the layer op itself are
        those of :func:`emokit.kernels.multipath_linear`.
    """
    _check(x, layers, paths, head_weight, head_bias, targets)
    plan = group_prefixes(paths, share_prefixes)
    distinct = tuple(int(idx.shape[0]) for idx in plan.idx)
    rows = _chunk_rows(x, layers, plan, backend)
    if rows >= x.shape[0]:
        logits = _logits(x, layers, plan, head_weight, head_bias, backend)
    else:
        chunks = [_logits(part, layers, plan, head_weight, head_bias, backend) for part in x.split(rows)]
        logits = torch.cat(chunks, dim=1)
    loss, accuracy = _fitness(logits, targets)
    if head_weight.dim() == 3:
        return PopulationOutput(logits, loss, accuracy, distinct)
    # One head: logits and fitness were computed per distinct final state; copy them out to the paths.
    pick = plan.group
    return PopulationOutput(
        logits.index_select(0, pick),
        None if loss is None else loss.index_select(0, pick),
        None if accuracy is None else accuracy.index_select(0, pick),
        distinct,
    )


#: Bytes of one layer's output the CPU kernel path aims at per batch chunk (see _chunk_rows).
CHUNK_BYTES = 2 << 20


def _chunk_rows(x: torch.Tensor, layers: Sequence[Layer], plan: PrefixGroups, backend: str | None) -> int:
    """Batch rows per chunk: all of them, except for the CPU kernels when no gradient is needed.

    There, the batch goes through every layer in chunks whose hidden states stay in cache (about
    :data:`CHUNK_BYTES`, at least 16 rows), instead of materialising [P, B, D] per layer: fewer
    cache misses and no fresh pages for large outputs, which on a CPU cost as much as the GEMMs'
    epilogues. With autograd the whole batch runs at once (the backward needs every layer's output),
    and the fallback or a GPU gains nothing from it.
    """
    from emokit.kernels.dispatch import backend as resolve_backend

    batch = x.shape[0]
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for layer in layers for t in layer)
    if needs_grad or x.device.type != "cpu" or resolve_backend(backend) != "ext":
        return batch
    widest = max(
        int(idx.shape[0]) * int(weight.shape[1]) for idx, (weight, _) in zip(plan.idx, layers, strict=True)
    )
    return max(16, CHUNK_BYTES // (widest * x.element_size()))


def _logits(
    x: torch.Tensor,
    layers: Sequence[Layer],
    plan: PrefixGroups,
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
    backend: str | None,
) -> torch.Tensor:
    """Logits of a batch (or a chunk of it): [U, B, C] per distinct final state with one head, else
    [P, B, C]."""
    from emokit.kernels.dispatch import multipath_linear

    hidden = x
    for (weight, bias), idx, parent in zip(layers, plan.idx, plan.parent, strict=True):
        if parent is not None and not _is_identity(parent, hidden.shape[0]):
            hidden = hidden.index_select(0, parent)
        hidden = multipath_linear(hidden, weight, bias, idx, backend=backend)
    if head_weight.dim() == 2:
        return torch.matmul(hidden, head_weight.t()) + head_bias
    per_path = hidden.index_select(0, plan.group)
    return torch.baddbmm(head_bias.unsqueeze(1), per_path, head_weight.transpose(1, 2))


def _is_identity(parent: torch.Tensor, previous: int) -> bool:
    return parent.shape[0] == previous and bool(
        (parent == torch.arange(previous, device=parent.device)).all()
    )


def _fitness(
    logits: torch.Tensor, targets: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if targets is None:
        return None, None
    groups, batch, classes = logits.shape
    flat_targets = targets.repeat(groups)
    loss = F.cross_entropy(logits.reshape(groups * batch, classes), flat_targets, reduction="none")
    accuracy = (logits.argmax(-1) == targets).float().mean(1)
    return loss.view(groups, batch).mean(1), accuracy


def population_flops(
    paths: torch.Tensor,
    layer_shapes: Sequence[tuple[int, int]],
    batch: int,
    num_classes: int,
    share_prefixes: bool = True,
) -> dict[str, float]:
    """Floating-point work a population forward actually needs, layer by layer (multiply-add = 2).

    Args:
        paths: int [P, L, K] as for :func:`population_forward`.
        layer_shapes: (Din, Dout) of each layer.
        batch: B; num_classes: C.
        share_prefixes: count with prefix sharing (what :func:`population_forward` does) or without.

    Returns:
        ``{"layer1": ..., ..., "head": ..., "total": ...}``: the first layer counts each module used
        once (its input is shared), deeper layers each active slot of each distinct prefix, the head
        each distinct final state. Used by the profiler for GFLOP/s "of the work actually needed".
    """
    plan = group_prefixes(paths, share_prefixes)
    work: dict[str, float] = {}
    for layer, ((din, dout), idx) in enumerate(zip(layer_shapes, plan.idx, strict=True)):
        units = int(torch.unique(idx[idx >= 0]).numel()) if layer == 0 else int((idx >= 0).sum())
        work[f"layer{layer + 1}"] = 2.0 * units * batch * din * dout
    work["head"] = 2.0 * int(plan.idx[-1].shape[0]) * batch * layer_shapes[-1][1] * num_classes
    work["total"] = sum(work.values())
    return work
