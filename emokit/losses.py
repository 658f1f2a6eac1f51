"""Distribution-alignment losses for transfer methods: multi-kernel MMD and LMMD.

Both compare a batch of source features with a batch of target features through a sum of Gaussian
kernels, as the DAN / DSAN lineage codes it (and FDAN after it):

* the bandwidths are ``base * kernel_mul**k`` for ``k = 0 .. kernel_num-1``, where ``base`` is the
  mean squared distance between distinct rows of the pooled batch divided by
  ``kernel_mul ** (kernel_num // 2)`` (with the defaults 2 and 5: the mean divided by 4), so the middle
  kernel's bandwidth is the mean squared distance itself;
* ``K(a, b) = sum_k exp(-||a - b||^2 / bandwidth_k)``.

:func:`mmd` is the (biased) squared maximum mean discrepancy ``mean K_ss + mean K_tt - 2 mean K_st``.
:func:`lmmd` is the local (class-conditional) MMD of DSAN: each pair of rows is weighted by how much
both belong to the same class, using one-hot source labels and the target's predicted class
probabilities, each normalised per class to sum to one over the batch::

    loss = sum(W_ss * K_ss + W_tt * K_tt - 2 * W_st * K_st)
    W_ss = S @ S.T, W_tt = T @ T.T, W_st = S @ T.T   (over the classes present on both sides)

divided by the number of those classes. A class counts as present on the target side when it is some
target row's most probable class. :func:`ramp` is the usual schedule of the loss weight,
``2 / (1 + exp(-gamma * progress)) - 1``.

These are plain differentiable torch functions, usable by any method plugin.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gaussian_kernels", "lmmd", "mmd", "ramp"]


def _check_pair(source: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if source.dim() != 2 or target.dim() != 2:
        raise ValueError(
            f"{name}: source and target must be [n, d] feature batches, got "
            f"{list(source.shape)} and {list(target.shape)}"
        )
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            f"{name}: source and target must have the same feature size, got {source.shape[1]} and "
            f"{target.shape[1]}"
        )
    if source.shape[0] == 0 or target.shape[0] == 0:
        raise ValueError(f"{name}: source and target need at least one row each")


def gaussian_kernels(
    source: torch.Tensor,
    target: torch.Tensor,
    kernel_mul: float = 2.0,
    kernel_num: int = 5,
    bandwidth: float | None = None,
) -> torch.Tensor:
    """The multi-kernel Gaussian Gram matrix of the pooled rows ``[source; target]``.

    Args:
        source, target: ``[n, d]`` and ``[m, d]``.
        kernel_mul, kernel_num: bandwidths ``base * kernel_mul**k``, ``k < kernel_num``.
        bandwidth: a fixed ``base`` instead of the data-dependent one.

    Returns:
        ``[n + m, n + m]``. The data-dependent bandwidth is detached (a constant of the batch), as in
        the reference code it is computed from ``.data``.
    """
    if kernel_num < 1 or kernel_mul <= 0:
        raise ValueError(f"kernel_num must be >= 1 and kernel_mul > 0, got {kernel_num} and {kernel_mul}")
    pooled = torch.cat([source, target], dim=0)
    distances = (pooled.unsqueeze(0) - pooled.unsqueeze(1)).pow(2).sum(-1)
    rows = pooled.shape[0]
    if bandwidth is None:
        pairs = rows * rows - rows
        mean = distances.detach().sum() / pairs if pairs > 0 else distances.new_tensor(1.0)
        base = mean / kernel_mul ** (kernel_num // 2)
        base = torch.where(base > 0, base, torch.ones_like(base))  # identical rows: any bandwidth
    else:
        base = distances.new_tensor(float(bandwidth))
    return sum(torch.exp(-distances / (base * kernel_mul**k)) for k in range(kernel_num))


def mmd(
    source: torch.Tensor,
    target: torch.Tensor,
    kernel_mul: float = 2.0,
    kernel_num: int = 5,
    bandwidth: float | None = None,
) -> torch.Tensor:
    """Multi-kernel squared MMD between two feature batches (biased estimate, 0 for identical ones).

    Args:
        source: ``[n, d]``; target: ``[m, d]`` (``n`` and ``m`` may differ).
        kernel_mul, kernel_num, bandwidth: see :func:`gaussian_kernels`.

    Returns:
        A scalar: ``mean(K_ss) + mean(K_tt) - 2 mean(K_st)``.
    """
    _check_pair(source, target, "mmd")
    n = source.shape[0]
    kernels = gaussian_kernels(source, target, kernel_mul, kernel_num, bandwidth)
    return kernels[:n, :n].mean() + kernels[n:, n:].mean() - 2 * kernels[:n, n:].mean()


def lmmd(
    source: torch.Tensor,
    target: torch.Tensor,
    source_labels: torch.Tensor,
    target_probs: torch.Tensor,
    num_classes: int,
    kernel_mul: float = 2.0,
    kernel_num: int = 5,
    bandwidth: float | None = None,
) -> torch.Tensor:
    """Local MMD (DSAN): class-conditional multi-kernel MMD between two feature batches.

    Args:
        source: ``[n, d]`` features; source_labels: int64 ``[n]`` classes in ``[0, num_classes)``.
        target: ``[m, d]`` features; target_probs: ``[m, num_classes]`` class probabilities (e.g.
            the softmax of the classifier; for labelled targets, one-hot labels). They weight the
            pairs and are detached: the loss moves features, not predictions.
        num_classes: C.
        kernel_mul, kernel_num, bandwidth: see :func:`gaussian_kernels`.

    Returns:
        A scalar; 0 when no class is present on both sides.
    """
    _check_pair(source, target, "lmmd")
    n, m = source.shape[0], target.shape[0]
    if source_labels.shape != (n,):
        raise ValueError(f"lmmd: source_labels must have shape [{n}], got {list(source_labels.shape)}")
    if target_probs.shape != (m, num_classes):
        raise ValueError(
            f"lmmd: target_probs must have shape [{m}, {num_classes}], got {list(target_probs.shape)}"
        )
    if source_labels.numel() and (source_labels.min() < 0 or source_labels.max() >= num_classes):
        raise ValueError(f"lmmd: source_labels must lie in [0, {num_classes})")
    dtype = source.dtype
    s_onehot = torch.nn.functional.one_hot(source_labels.long(), num_classes).to(dtype)
    t_probs = target_probs.detach().to(dtype)
    s_weight = s_onehot / s_onehot.sum(0).clamp_min(1e-12)  # [n, C], each present column sums to 1
    t_weight = t_probs / t_probs.sum(0).clamp_min(1e-12)
    present = (s_onehot.sum(0) > 0) & (torch.bincount(t_probs.argmax(1), minlength=num_classes) > 0)
    count = int(present.sum())
    if count == 0:
        return source.new_zeros(())
    s_weight = s_weight * present
    t_weight = t_weight * present
    kernels = gaussian_kernels(source, target, kernel_mul, kernel_num, bandwidth)
    w_ss = s_weight @ s_weight.T
    w_tt = t_weight @ t_weight.T
    w_st = s_weight @ t_weight.T
    loss = (
        (w_ss * kernels[:n, :n]).sum() + (w_tt * kernels[n:, n:]).sum() - 2 * (w_st * kernels[:n, n:]).sum()
    )
    return loss / count


def ramp(progress: float, gamma: float = 10.0) -> float:
    """The weight schedule of an alignment loss: ``2 / (1 + exp(-gamma * progress)) - 1``.

    ``progress`` runs from 0 (start of training: weight 0) to 1 (weight close to 1).
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0
