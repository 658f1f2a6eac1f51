"""Every built-in method trains and predicts on the device the runner chooses (``TransferTask.device``),
records it in ``info()``, keeps its caches per device and stays picklable (worker processes get
method instances). The CUDA rows run only where ``torch.cuda.is_available()``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from support.methods import BUILT_IN, labelled_task

from emokit import kernels
from emokit.api import Method, TransferTask
from emokit.registry import Registry
from emokit.testing import as_runner_gives
from emokit.training import torch_device
from emokit_plugins.baselines.methods import SOURCE_MODELS
from emokit_plugins.pathnet import Architecture, PathNet, SearchConfig, SourceStageCache, TaskData

CUDA = pytest.mark.cuda
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA), pytest.param("cuda:0", marks=CUDA)]


def _fresh(registry: Registry, name: str) -> Method:
    """A new instance of built-in method ``name`` (nothing cached from other tests)."""
    return type(registry.method(name))()


def _task(method: Method, device: str, options: dict | None = None) -> TransferTask:
    """The contract tests' tiny task for ``method``, as the runner hands it over, on ``device``."""
    task = as_runner_gives(labelled_task(method.name, options), method)
    task.device = device
    return task


def _ran_on(method: Method, device: str) -> str:
    """The device ``method`` should report for ``task.device == device``."""
    return "cpu" if method.name == "svm" else str(torch_device(device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", BUILT_IN)
def test_every_method_runs_on_the_task_device_and_records_it(
    registry: Registry, name: str, device: str, tmp_path: Path
) -> None:
    method = _fresh(registry, name)
    options = {"pathnet.save": str(tmp_path)} if name == "pathnet" else None
    task = _task(method, device, options)
    predictions = method.run(task)
    assert isinstance(predictions, np.ndarray)
    assert predictions.shape == (len(task.target.test),)
    assert np.issubdtype(predictions.dtype, np.integer)
    assert set(np.unique(predictions)) <= set(range(task.num_classes))
    info = method.info()
    assert info["device"] == _ran_on(method, device)
    if name == "svm" and device != "cpu":
        assert "CPU" in info["note"]
    if name == "pathnet":
        on_cuda = torch.device(device).type == "cuda"
        cuda_kernels = "cuda" in kernels.extension_state().devices and kernels.requested_backend() != "torch"
        if on_cuda:  # the CUDA kernels, or the fallback on CUDA where the extension has none
            assert info["kernel_backend"] == ("ext" if cuda_kernels else "torch")
        else:
            assert info["kernel_backend"] in ("ext", "torch")
        loaded = PathNet.load(info["saved_to"])  # saved from any device, loads on the CPU
        assert loaded.device == torch.device("cpu")
        assert all(t.device.type == "cpu" for t in (*loaded.weights, *loaded.biases))
        assert loaded.predict(task.target.train.corpus, task.target.test.X).shape == predictions.shape


@pytest.mark.parametrize("name", BUILT_IN)
def test_methods_pickle_fresh_and_after_a_run(registry: Registry, name: str) -> None:
    method = _fresh(registry, name)
    pickle.loads(pickle.dumps(method))
    predictions = method.run(_task(method, "cpu"))
    clone = pickle.loads(pickle.dumps(method))
    assert type(clone) is type(method)
    assert clone.info() == method.info()
    # the copy (its caches included) runs the same cell to the same predictions
    assert np.array_equal(clone.run(_task(clone, "cpu")), predictions)


def _source(seed: int = 0) -> TaskData:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, 4)).astype(np.float32)
    y = np.arange(12) % 2
    return TaskData("a", ["x", "y"], X, y, X[:4], y[:4])


def test_the_source_stage_cache_key_names_the_device() -> None:
    args = ([_source()], Architecture(4, width=4), SearchConfig(), 0)
    cpu = SourceStageCache.key(*args)
    assert SourceStageCache.key(*args, "cpu") == cpu
    assert SourceStageCache.key(*args, "cuda:0") != cpu
    assert SourceStageCache.key(*args, "cuda:1") != SourceStageCache.key(*args, "cuda:0")


@pytest.mark.parametrize("name", ["pathnet", "finetune", "source-only"])
def test_cached_source_stages_are_reused_on_the_same_device(registry: Registry, name: str) -> None:
    method = _fresh(registry, name)
    cache = method.sources_cache if name == "pathnet" else SOURCE_MODELS
    first = method.run(_task(method, "cpu"))
    hits = cache.hits
    assert np.array_equal(method.run(_task(method, "cpu")), first)
    assert cache.hits == hits + 1


@CUDA
@pytest.mark.parametrize("name", ["pathnet", "finetune", "source-only"])
def test_a_cpu_source_stage_is_not_reused_on_cuda(registry: Registry, name: str) -> None:
    method = _fresh(registry, name)
    cache = method.sources_cache if name == "pathnet" else SOURCE_MODELS
    options = {"epochs": "4"}  # no other test trains these source models (SOURCE_MODELS is shared)
    method.run(_task(method, "cpu", options))
    hits = cache.hits
    method.run(_task(method, "cuda", options))
    assert cache.hits == hits
    assert method.info()["device"].startswith("cuda")
    method.run(_task(method, "cuda", options))  # and a CUDA one is reused on CUDA
    assert cache.hits == hits + 1


def test_a_pathnet_moves_between_devices_and_saves_cpu_tensors(tmp_path: Path) -> None:
    model = PathNet(Architecture(4, layers=2, modules=3, active=2, width=4), torch.Generator().manual_seed(1))
    assert model.to("cpu") is model and model.device == torch.device("cpu")
    head = model.new_head(2, torch.Generator().manual_seed(2))
    assert all(t.device == model.device and t.requires_grad for t in head)
    if torch.cuda.is_available():
        model.to("cuda:0")
        assert model.device == torch.device("cuda:0")
        assert all(w.is_leaf and w.requires_grad for w in (*model.weights, *model.biases))
        assert model.frozen.device.type == "cpu"  # the bookkeeping stays on the host
    path = model.save(tmp_path / "m.pt")
    saved = torch.load(path, weights_only=True)  # no map_location: the tensors were saved on the CPU
    assert all(t.device.type == "cpu" for t in (*saved["weights"], *saved["biases"]))
