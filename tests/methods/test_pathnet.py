"""PathNet: the genetic operators, the batched search, freezing, transfer, save/load, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emokit.training import class_weights
from emokit_plugins.pathnet import (
    Architecture,
    PathNet,
    SearchConfig,
    SourceStageCache,
    StageData,
    TaskData,
    evolve,
    learn_task,
    mutate,
    random_genotypes,
    tournaments,
    transfer,
)
from emokit_plugins.pathnet.search import per_path_loss, per_path_uar

BACKENDS = ["torch", pytest.param("ext", marks=pytest.mark.extension)]


# -- genetic operators ----------------------------------------------------------------------------
def test_mutation_follows_the_rule_and_stays_in_range() -> None:
    modules, layers, active = 10, 3, 3
    generator = torch.Generator().manual_seed(1)
    genotypes = random_genotypes(20000, layers, active, modules, generator)
    before = genotypes.clone()
    mutated, drawn = mutate(genotypes, modules, generator)
    assert torch.equal(genotypes, before)  # the input is left as it is
    assert mutated.min() >= 0 and mutated.max() <= modules - 1
    # indices are drawn with probability 1/(N*L): within 5 binomial standard deviations
    n, rate = drawn.numel(), 1 / (layers * active)
    assert abs(drawn.sum().item() - n * rate) < 5 * (n * rate * (1 - rate)) ** 0.5
    # nothing changes where nothing was drawn
    assert torch.equal(mutated[~drawn], genotypes[~drawn])
    # away from the edges a drawn index moves by an integer uniform in [-2, 2]
    inner = drawn & (genotypes >= 2) & (genotypes <= modules - 3)
    steps = (mutated - genotypes)[inner]
    counts = torch.bincount(steps + 2, minlength=5)
    assert counts.numel() == 5 and steps.abs().max() <= 2
    expected = inner.sum().item() / 5
    assert ((counts.float() - expected).abs() < 5 * expected**0.5).all(), counts
    # at the edges the step is clipped into range, never wrapped
    low = drawn & (genotypes == 0)
    assert set((mutated[low]).tolist()) <= {0, 1, 2}
    high = drawn & (genotypes == modules - 1)
    assert set((mutated[high]).tolist()) <= {modules - 3, modules - 2, modules - 1}


def test_mutation_rate_override_and_bad_input() -> None:
    generator = torch.Generator().manual_seed(0)
    genotypes = random_genotypes(50, 2, 2, 5, generator)
    _, none_drawn = mutate(genotypes, 5, generator, rate=0.0)
    assert not none_drawn.any()
    _, all_drawn = mutate(genotypes, 5, generator, rate=1.0)
    assert all_drawn.all()
    with pytest.raises(ValueError, match="mutation rate must be in"):
        mutate(genotypes, 5, generator, rate=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        random_genotypes(4, 0, 2, 5, generator)


def test_tournament_overwrites_the_loser_with_a_mutated_copy_of_the_winner() -> None:
    modules = 6
    generator = torch.Generator().manual_seed(3)
    genotypes = random_genotypes(8, 3, 2, modules, generator)
    fitness = torch.tensor([0.1, 0.9, 0.5, 0.5, 0.7, 0.2, 0.3, 0.3])
    loss = torch.tensor([1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5], [6, 7]])
    result = tournaments(genotypes, fitness, modules, generator, tie_break=loss, pairs=pairs, rate=0.5)
    # higher fitness wins; a tie goes to the lower loss (3 beats 2), then to the first of the pair
    assert result.winners.tolist() == [1, 3, 4, 6]
    assert result.losers.tolist() == [0, 2, 5, 7]
    for winner, loser, drawn in zip(result.winners, result.losers, result.mutated, strict=True):
        assert torch.equal(result.genotypes[winner], genotypes[winner])  # the winner is kept
        child, parent = result.genotypes[loser], genotypes[winner]
        assert torch.equal(child[~drawn], parent[~drawn])  # a copy of the winner...
        assert ((child - parent)[drawn].abs() <= 2).all()  # ...mutated where drawn
        assert child.min() >= 0 and child.max() < modules
    assert result.mutated.any()  # rate 0.5: some index was drawn


def test_tournament_without_mutation_copies_the_winner_exactly() -> None:
    generator = torch.Generator().manual_seed(0)
    genotypes = random_genotypes(6, 2, 3, 9, generator)
    fitness = torch.arange(6, dtype=torch.float32)
    result = tournaments(genotypes, fitness, 9, generator, rate=0.0)
    for winner, loser in zip(result.winners, result.losers, strict=True):
        assert fitness[winner] > fitness[loser]
        assert torch.equal(result.genotypes[loser], genotypes[winner])
    with pytest.raises(ValueError, match=r"fitness must have shape \[6\]"):
        tournaments(genotypes, fitness[:4], 9, generator)


def test_per_path_fitness_is_uar_and_weighted_loss() -> None:
    targets = torch.tensor([0, 0, 0, 1])
    logits = torch.zeros(2, 4, 2)
    logits[0, :, 0] = 1.0  # path 0 always says class 0: recall 1 and 0, UAR 0.5
    logits[1, torch.arange(4), targets] = 1.0  # path 1 is always right
    assert per_path_uar(logits, targets, 2).tolist() == [0.5, 1.0]
    weights = torch.tensor([1.0, 3.0])
    loss = per_path_loss(logits, targets, weights)
    expected = torch.nn.functional.cross_entropy(logits[0], targets, weight=weights)
    assert torch.allclose(loss[0], expected)


# -- the search -----------------------------------------------------------------------------------
def _problem(seed: int, din: int = 12, classes: int = 3, shift: float = 0.0, n: int = 120) -> StageData:
    """A learnable synthetic task: class means along the first axes, optionally shifted."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    X = torch.randn(n, din, generator=g)
    X[torch.arange(n), y] += 2.5
    X += shift
    parts = [slice(0, n // 2), slice(n // 2, 3 * n // 4), slice(3 * n // 4, n)]
    return StageData(
        *(t for s in parts for t in (X[s], y[s])),
        num_classes=classes,
        class_weights=class_weights(y[parts[0]].numpy(), classes),
    )


SMALL = Architecture(input_dim=12, layers=2, modules=4, active=2, width=8)


def _search(engine: str = "batched", backend: str = "torch", **kw) -> SearchConfig:
    settings = {"population": 6, "steps": 3, "batch_size": 16, "generations": 4, "patience": None, **kw}
    return SearchConfig(engine=engine, backend=backend, **settings)


def _evolve(config: SearchConfig, seed: int = 0, data: StageData | None = None):
    model = PathNet(SMALL, torch.Generator().manual_seed(seed))
    result = evolve(model, data or _problem(0), config, torch.Generator().manual_seed(seed))
    return model, result


@pytest.mark.parametrize("backend", BACKENDS)
def test_batched_training_matches_training_paths_one_at_a_time(backend: str) -> None:
    batched_model, batched = _evolve(_search("batched", backend))
    serial_model, serial = _evolve(_search("serial"))
    assert len(batched.genotypes) == len(serial.genotypes) == 4
    for a, b in zip(batched.genotypes, serial.genotypes, strict=True):
        assert torch.equal(a, b)  # every generation's population, hence every tournament, agrees
    for a, b in zip(batched_model.state(), serial_model.state(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batched.head[0], serial.head[0], rtol=1e-4, atol=1e-5)
    assert torch.equal(batched.best_path, serial.best_path)
    assert [g.best_fitness for g in batched.history] == [g.best_fitness for g in serial.history]


def test_a_seed_reproduces_the_search() -> None:
    model_a, a = _evolve(_search(), seed=5)
    model_b, b = _evolve(_search(), seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a.genotypes, b.genotypes, strict=True))
    assert all(torch.equal(x, y) for x, y in zip(model_a.state(), model_b.state(), strict=True))
    assert torch.equal(a.best_path, b.best_path) and a.val_uar == b.val_uar
    _, c = _evolve(_search(), seed=6)
    assert not all(torch.equal(x, y) for x, y in zip(a.genotypes, c.genotypes, strict=True))


def test_the_search_learns_and_selects_on_validation() -> None:
    _, result = _evolve(_search(generations=25, steps=5, population=8, lr=1e-2))
    assert result.val_uar > 0.8  # chance is 1/3
    assert result.val_uar == max(g.champion_val_uar for g in result.history)
    assert result.best_generation == [g.champion_val_uar for g in result.history].index(result.val_uar)
    assert result.paths_evaluated == 8 * len(result.history)


@pytest.mark.parametrize(
    ("settings", "because", "generations"),
    [
        ({"threshold": 0.0}, "threshold", 1),
        ({"budget_s": 1e-9}, "budget", 1),
        ({"generations": 3}, "generations", 3),
    ],
)
def test_the_search_stops_on_each_criterion(settings: dict, because: str, generations: int) -> None:
    _, result = _evolve(_search(**settings))
    assert result.stopped_because == because
    assert len(result.history) == generations


def test_patience_stops_after_generations_without_a_better_validation_score() -> None:
    _, result = _evolve(_search(patience=2, generations=200, lr=1e-6))
    assert result.stopped_because == "patience" and len(result.history) < 200
    scores = [g.champion_val_uar for g in result.history]
    assert max(scores[-2:]) <= max(scores[:-2])  # the last two generations did not improve


def test_bad_search_settings_are_named() -> None:
    with pytest.raises(ValueError, match="population must be at least 2"):
        SearchConfig(population=1)
    with pytest.raises(ValueError, match="engine must be one of batched, serial"):
        SearchConfig(engine="gpu")
    with pytest.raises(ValueError, match="fitness_fraction must be in"):
        SearchConfig(fitness_fraction=1.0)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        Architecture(input_dim=4, width=0)


# -- freezing and transfer ------------------------------------------------------------------------
def _task(name: str, seed: int, shift: float = 0.0) -> TaskData:
    data = _problem(seed, shift=shift)
    classes = ["anger", "happiness", "sadness"]
    train_X = torch.cat([data.X_train, data.X_fitness]).numpy()
    train_y = torch.cat([data.y_train, data.y_fitness]).numpy()
    return TaskData(name, classes, train_X, train_y, data.X_val.numpy(), data.y_val.numpy())


def test_frozen_modules_stay_bitwise_unchanged_and_the_others_are_reinitialised() -> None:
    generator = torch.Generator().manual_seed(0)
    model = PathNet(SMALL, generator)
    config = _search(generations=3)
    source = learn_task(model, _task("source", 1), config, generator)
    frozen = model.frozen.clone()
    assert frozen.sum() >= SMALL.layers  # at least one module per layer of the source's best path
    for layer, row in enumerate(source.best_path.tolist()):
        assert all(frozen[layer, m] for m in row)
    after_source = model.state()
    model.reinitialise_unfrozen(generator)
    reinitialised = model.state()
    target = learn_task(model, _task("target", 2, shift=1.0), config, generator)
    after_target = model.state()
    for layer in range(SMALL.layers):
        for tensor_of_layer in (layer, SMALL.layers + layer):  # weights, then biases
            keep = frozen[layer]
            assert torch.equal(after_target[tensor_of_layer][keep], after_source[tensor_of_layer][keep])
            for module in torch.nonzero(~keep).flatten().tolist():
                assert not torch.equal(
                    reinitialised[tensor_of_layer][module], after_source[tensor_of_layer][module]
                )
    used_by_target = {(layer, m) for layer, row in enumerate(target.best_path.tolist()) for m in row}
    trained = [lm for lm in used_by_target if not frozen[lm]]
    for layer, module in trained:  # modules the target trained moved away from their fresh values
        assert not torch.equal(after_target[layer][module], reinitialised[layer][module])
    assert [t.name for t in model.tasks] == ["source", "target"]


def test_multi_source_transfer_freezes_each_source_and_reports_reuse() -> None:
    report = transfer(
        [_task("a", 1), _task("b", 2, shift=0.5)],
        _task("t", 3, shift=1.0),
        SMALL,
        _search(generations=3),
        seed=0,
    )
    model = report.model
    assert [t.name for t in model.tasks] == ["a", "b", "t"]
    owners = {model.tasks[i].name for i in model.owner[model.frozen].tolist()}
    assert {"a", "b"} <= owners
    for record in model.tasks:  # every task's best path is frozen, owned by it or an earlier task
        for layer, row in enumerate(record.path.tolist()):
            assert all(model.frozen[layer, m] for m in row)
    summary = report.summary()
    expected = [
        {"layer": layer + 1, "module": m, "from": model.tasks[int(model.owner[layer, m])].name}
        for layer, row in enumerate(model.task("t").path.tolist())
        for m in sorted(set(row))
        if model.tasks[int(model.owner[layer, m])].name != "t"
    ]
    assert summary["reused_modules"] == expected
    assert set(summary["stages"]) == {"a", "b", "t"}
    with pytest.raises(ValueError, match="task names must be distinct"):
        transfer([_task("a", 1)], _task("a", 2), SMALL, _search(), seed=0)


def test_the_source_stage_cache_gives_bitwise_the_same_transfers() -> None:
    sources = [_task("a", 1), _task("b", 2, shift=0.5)]
    targets = [_task("t", 3, shift=1.0), _task("t", 4, shift=1.5)]  # two folds of one target
    cache = SourceStageCache()
    for target in targets:
        plain = transfer(sources, target, SMALL, _search(generations=3), seed=7)
        cached = transfer(sources, target, SMALL, _search(generations=3), seed=7, cache=cache)
        assert all(torch.equal(x, y) for x, y in zip(plain.model.state(), cached.model.state(), strict=True))
        assert plain.summary()["target_path"] == cached.summary()["target_path"]
        timeless = [
            {
                n: {k: v for k, v in st.items() if k not in ("seconds", "paths_per_s")}
                for n, st in r.summary()["stages"].items()
            }
            for r in (plain, cached)
        ]
        assert timeless[0] == timeless[1]
    assert cache.hits == 1  # the second target reused the sources of the first
    other_seed = transfer(sources, targets[0], SMALL, _search(generations=3), seed=8, cache=cache)
    assert cache.hits == 1 and [t.name for t in other_seed.model.tasks] == ["a", "b", "t"]


def test_a_saved_model_reloads_to_identical_predictions(tmp_path) -> None:
    report = transfer([_task("a", 1)], _task("t", 3, shift=1.0), SMALL, _search(generations=2), seed=0)
    X = torch.randn(40, SMALL.input_dim).numpy()
    path = report.model.save(tmp_path / "model.pt")
    loaded = PathNet.load(path)
    for name in ("a", "t"):
        assert torch.equal(loaded.logits(name, X), report.model.logits(name, X))
        assert np.array_equal(loaded.predict(name, X), report.model.predict(name, X))
    assert torch.equal(loaded.frozen, report.model.frozen) and torch.equal(loaded.owner, report.model.owner)
    assert [t.facts for t in loaded.tasks] == [t.facts for t in report.model.tasks]
    # a transfer can start from it: its tasks stay frozen and only the new target is evolved
    before = loaded.state()
    frozen = loaded.frozen.clone()
    again = transfer([], _task("u", 4), SMALL, _search(generations=2), seed=1, start_from=loaded)
    assert list(again.stages) == ["u"]
    for layer in range(SMALL.layers):
        assert torch.equal(again.model.weights[layer][frozen[layer]], before[layer][frozen[layer]])


def test_bad_model_files_and_inputs_get_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PathNet.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not an emokit PathNet model file"):
        PathNet.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": []}, other)
    with pytest.raises(ValueError, match="no format 'emokit-pathnet'"):
        PathNet.load(other)
    report = transfer([], _task("t", 3), SMALL, _search(generations=1), seed=0)
    with pytest.raises(ValueError, match=r"inputs for task 't' must be \[n, 12\]"):
        report.model.predict("t", np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(KeyError, match="has no task 'x'"):
        report.model.predict("x", np.zeros((3, 12), dtype=np.float32))
    wide = TaskData("w", ["a", "b"], np.zeros((10, 7)), np.arange(10) % 2, np.zeros((4, 7)), np.arange(4) % 2)
    with pytest.raises(ValueError, match="takes 12 features per sample"):
        transfer([], wide, SMALL, _search(), seed=0, start_from=report.model)
