"""The population forward: logits and fitness of every path in one call, with shared prefixes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from support.kernel_grid import backend_params

import emokit.kernels as kernels
from emokit.kernels.population import group_prefixes
from emokit.kernels.reference import converging_population, population_model, reference_population

F32 = {"rtol": 1e-4, "atol": 1e-4}


make_model = population_model


@pytest.mark.parametrize(("device", "backend"), backend_params())
@pytest.mark.parametrize("per_path_head", [False, True], ids=["one-head", "head-per-path"])
@pytest.mark.parametrize("share", [True, False], ids=["shared-prefixes", "separate"])
def test_logits_and_fitness_match_a_path_at_a_time_reference(
    device: str, backend: str, per_path_head: bool, share: bool
) -> None:
    layers, head_w, head_b = make_model((9, 8, 7, 6), 5, 4, torch.float32, device, 1)
    paths = converging_population(11, 3, 3, 5, 2).to(device)
    if per_path_head:
        gen = torch.Generator().manual_seed(3)
        head_w = torch.randn(11, 4, 6, generator=gen).to(device)
        head_b = torch.randn(11, 4, generator=gen).to(device)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(13, 9, generator=gen).to(device)
    targets = torch.randint(0, 4, (13,), generator=gen).to(device)
    out = kernels.population_forward(
        x, layers, paths, head_w, head_b, targets, backend=backend, share_prefixes=share
    )
    ref = reference_population(x, layers, paths, head_w, head_b)
    torch.testing.assert_close(out.logits.double(), ref, **F32)
    ref_loss = torch.stack([F.cross_entropy(ref[p], targets) for p in range(11)])
    torch.testing.assert_close(out.loss.double(), ref_loss, **F32)
    assert torch.equal(out.accuracy, (out.logits.argmax(-1) == targets).float().mean(1))
    if share:  # paths 0, 1, 3, 5, 7, 9 share everything; slot order does not matter
        assert out.distinct[-1] <= 6
    else:
        assert out.distinct == (11, 11, 11)


def test_converged_population_computes_one_path() -> None:
    paths = torch.tensor([[[0, 1], [2, -1]], [[1, 0], [-1, 2]], [[0, 1], [2, -1]]])
    plan = group_prefixes(paths)
    assert [int(i.shape[0]) for i in plan.idx] == [1, 1]
    assert plan.group.tolist() == [0, 0, 0]
    # A prefix shared by two paths that part later is computed once, then twice.
    paths[2, 1] = torch.tensor([3, 3])
    plan = group_prefixes(paths)
    assert [int(i.shape[0]) for i in plan.idx] == [1, 2]
    assert plan.parent[1].tolist() == [0, 0]


@pytest.mark.parametrize(("device", "backend"), backend_params())
def test_gradcheck_through_a_population(device: str, backend: str) -> None:
    layers, head_w, head_b = make_model((4, 3, 3), 3, 2, torch.float64, device, 5)
    paths = torch.tensor([[[0, 1], [2, -1]], [[1, 0], [0, 2]], [[2, -1], [2, -1]]], device=device)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6)).to(device)
    targets = torch.tensor([0, 1, 1, 0, 1], device=device)
    flat = [t.clone().requires_grad_() for pair in layers for t in pair]

    def fitness_loss(*params: torch.Tensor) -> torch.Tensor:
        model = list(zip(params[0::2], params[1::2], strict=True))
        return kernels.population_forward(x, model, paths, head_w, head_b, targets, backend=backend).loss

    assert torch.autograd.gradcheck(fitness_loss, tuple(flat))


@pytest.mark.parametrize(("device", "backend"), backend_params())
def test_one_backward_trains_every_path(device: str, backend: str) -> None:
    # The summed loss of the population gives each module the sum of its paths' gradients.
    layers, head_w, head_b = make_model((6, 5, 4), 4, 3, torch.float64, device, 7)
    paths = converging_population(6, 2, 2, 4, 8).to(device)
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(10, 6, dtype=torch.float64, generator=gen).to(device)
    targets = torch.randint(0, 3, (10,), generator=gen).to(device)
    params = [t.clone().requires_grad_() for pair in layers for t in pair]
    model = list(zip(params[0::2], params[1::2], strict=True))
    kernels.population_forward(
        x, model, paths, head_w, head_b, targets, backend=backend
    ).loss.sum().backward()
    expected = [torch.zeros_like(p) for p in params]
    for p in range(paths.shape[0]):
        single = [t.detach().clone().requires_grad_() for t in params]
        logits = reference_population(
            x, list(zip(single[0::2], single[1::2], strict=True)), paths[p : p + 1], head_w, head_b
        )
        if not logits.requires_grad:  # the path has no active module in some layer: no gradient
            continue
        F.cross_entropy(logits[0], targets).backward()
        expected = [e if s.grad is None else e + s.grad for e, s in zip(expected, single, strict=True)]
    for got, want in zip(params, expected, strict=True):
        torch.testing.assert_close(got.grad, want)


def test_a_single_path_population_works() -> None:
    layers, head_w, head_b = make_model((5, 4), 3, 2, torch.float32, "cpu", 10)
    x = torch.randn(1, 5)
    out = kernels.population_forward(x, layers, torch.tensor([[[2, -1]]]), head_w, head_b, torch.tensor([1]))
    assert out.logits.shape == (1, 1, 2) and out.loss.shape == (1,) and out.distinct == (1,)


BAD = [
    (lambda a: {**a, "x": a["x"][0]}, ValueError, "x must be the batch shared by every path, [B, Din]"),
    (lambda a: {**a, "layers": []}, ValueError, "layers must hold at least one"),
    (lambda a: {**a, "paths": a["paths"].float()}, TypeError, "paths must be an int32 or int64 tensor"),
    (lambda a: {**a, "paths": a["paths"][:, :1]}, ValueError, "paths must have shape [P, L=2, K]"),
    (lambda a: {**a, "head_weight": a["head_weight"][:, :3]}, ValueError, "head_weight must be [C, 4]"),
    (lambda a: {**a, "head_bias": a["head_bias"][:1]}, ValueError, "head_bias must have shape [2]"),
    (lambda a: {**a, "targets": a["targets"][:2]}, ValueError, "targets must have shape [B=5]"),
]


@pytest.mark.parametrize(("change", "error", "text"), BAD, ids=[b[2].split(" ")[0] for b in BAD])
def test_bad_arguments_are_named(change, error: type, text: str) -> None:
    layers, head_w, head_b = make_model((3, 4, 4), 3, 2, torch.float32, "cpu", 11)
    args = {
        "x": torch.randn(5, 3),
        "layers": layers,
        "paths": torch.zeros(2, 2, 1, dtype=torch.long),
        "head_weight": head_w,
        "head_bias": head_b,
        "targets": torch.zeros(5, dtype=torch.long),
    }
    with pytest.raises(error) as caught:
        kernels.population_forward(**change(args))
    assert str(caught.value).startswith("emokit.population_forward: ") and text in str(caught.value)


@pytest.mark.extension
def test_batch_chunks_give_the_same_fitness(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without gradients the CPU kernels run the batch in cache-sized chunks through every layer.
    from emokit.kernels import population

    layers, head_w, head_b = make_model((7, 6, 5), 4, 3, torch.float64, "cpu", 12)
    paths = converging_population(9, 2, 2, 4, 13)
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(50, 7, dtype=torch.float64, generator=gen)
    targets = torch.randint(0, 3, (50,), generator=gen)
    monkeypatch.setattr(population, "CHUNK_BYTES", 1)  # 16 rows per chunk: 4 chunks, the last short
    with torch.no_grad():
        out = kernels.population_forward(x, layers, paths, head_w, head_b, targets, backend="ext")
    assert population._chunk_rows(x, layers, population.group_prefixes(paths), "ext") == 16
    torch.testing.assert_close(out.logits, reference_population(x, layers, paths, head_w, head_b))
    whole = kernels.population_forward(x, layers, paths, head_w, head_b, targets, backend="torch")
    torch.testing.assert_close(out.loss, whole.loss)
    assert torch.equal(out.accuracy, whole.accuracy)
