"""The extension build and the backend choice of emokit.kernels.

The extension tests skip, saying so, when emokit._C is not built; the backend-choice tests run in
subprocesses so that each sees a fresh process (environment, one-time warning, a missing extension).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from support.kernel_grid import BUILT

import emokit.kernels as kernels
from emokit.kernels import fallback
from emokit.kernels._loader import parse_backend_info

ROOT = Path(__file__).resolve().parents[2]


# Makes `import emokit._C` fail as it does when the extension was never built.
HIDE_EXTENSION = "import sys; sys.modules['emokit._C'] = None\n"


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without emokit's build and backend switches, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMOKIT_", "FORCE_"))}
    return {**clean, **env}


def run_python(code: str, hide_extension: bool = False, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, optionally as if emokit._C had never been built."""
    source = (HIDE_EXTENSION if hide_extension else "") + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", source],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_parse_backend_info_splits_devices_and_facts() -> None:
    devices, facts = parse_backend_info("cpu+cuda;compiler=gcc 12.2.0;cuda_arch=800,900;torch=2.13.0")
    assert devices == ("cpu", "cuda")
    assert facts == {"compiler": "gcc 12.2.0", "cuda_arch": "800,900", "torch": "2.13.0"}


@pytest.mark.extension
def test_extension_loads_and_is_chosen_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOKIT_BACKEND", raising=False)
    state = kernels.extension_state()
    assert state.loaded, state.error
    assert state.path is not None and Path(state.path).name.startswith("_C")
    assert Path(state.path).parent == Path(kernels.__file__).parents[1]
    assert kernels.backend() == "ext"


@pytest.mark.extension
def test_extension_imports_before_torch() -> None:
    # The library finds libtorch through its run path; `import torch` afterwards reuses it.
    proc = run_python("import emokit._C, torch; print(torch.ops.emokit.backend_info().split(';')[0])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("cpu", "cpu+cuda")


@pytest.mark.extension
def test_backend_info_op_reports_the_build_and_the_runtime() -> None:
    devices, facts = parse_backend_info(torch.ops.emokit.backend_info())
    assert devices[0] == "cpu" and set(devices) <= {"cpu", "cuda"}
    if "cuda" in devices:
        assert "cuda_runtime" in facts and torch.version.cuda is not None
    assert facts["torch"] == torch.__version__.split("+")[0]
    assert facts["compiler"] and facts["compiler"] != "unknown"
    if sys.platform.startswith("linux") and "OpenMP" in torch.__config__.parallel_info():
        assert facts["openmp"] != "none"
    # Thread counts are read when the op runs, not fixed at build time.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _, facts_one = parse_backend_info(torch.ops.emokit.backend_info())
    finally:
        torch.set_num_threads(before)
    assert facts_one["aten_threads"] == "1"


def test_backend_info_dict_is_json_ready_and_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOKIT_BACKEND", "torch" if not BUILT else "auto")
    info = kernels.backend_info()
    json.dumps(info)
    assert info["backend"] == ("ext" if BUILT else "torch")
    assert info["torch_version"] == torch.__version__
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["compiled_with_cuda"] == ("cuda" in info["extension_devices"])
    if BUILT:
        assert info["extension_loaded"] and info["extension_error"] is None
        assert info["extension_path"] == kernels.extension_state().path
        assert info["extension_torch"] == torch.__version__.split("+")[0]


def test_fallback_module_counts_counts_slots_and_skips_empty_ones() -> None:
    idx = torch.tensor([[0, 2, -1], [2, 2, -1], [-1, -1, -1]])
    assert fallback.module_counts(idx, 4).tolist() == [1, 0, 3, 0]
    assert fallback.module_counts(torch.empty(0, 3, dtype=torch.int32), 2).tolist() == [0, 0]


@pytest.mark.extension
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(3, 2), (4096, 16)])  # the second spans several parallel chunks
def test_extension_module_counts_matches_fallback(dtype: torch.dtype, shape: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(sum(shape))
    idx = torch.randint(-1, 7, shape, generator=gen).to(dtype)
    expected = fallback.module_counts(idx, 7)
    got = torch.ops.emokit.module_counts(idx, 7)
    assert got.dtype == torch.int64
    assert torch.equal(got, expected)
    # Non-contiguous input: the kernel must not read the storage in the wrong order.
    assert torch.equal(torch.ops.emokit.module_counts(idx.t(), 7), fallback.module_counts(idx.t(), 7))


BAD_CALLS = [
    pytest.param(torch.tensor([[0, 5]]), 5, ValueError, "must lie in [-1, 5)", id="index-too-large"),
    pytest.param(torch.tensor([[-2, 0]]), 5, ValueError, "in [-2, 0]", id="index-below-minus-one"),
    pytest.param(torch.tensor([0, 1]), 5, ValueError, "shape [P, K]", id="not-2d"),
    pytest.param(torch.tensor([[0.0]]), 5, TypeError, "got torch.float32", id="float-index"),
    pytest.param(torch.tensor([[0]]), 0, ValueError, "num_modules must be positive", id="no-modules"),
]


@pytest.mark.parametrize(("idx", "m", "error", "text"), BAD_CALLS)
def test_module_counts_errors_are_clear(idx: torch.Tensor, m: int, error: type, text: str) -> None:
    with pytest.raises(error, match=r"^emokit\.module_counts: ") as caught:
        fallback.module_counts(idx, m)
    assert text in str(caught.value)
    if BUILT:  # the kernel raises the same error, word for word
        with pytest.raises(error) as from_kernel:
            torch.ops.emokit.module_counts(idx, m)
        assert str(from_kernel.value).splitlines()[0] == str(caught.value)


def test_forcing_fallback_never_loads_the_extension() -> None:
    proc = run_python(
        """
        import sys, warnings, torch
        warnings.simplefilter("error")  # the forced fallback must not warn
        import emokit.kernels as k
        print(k.backend(), k.module_counts(torch.tensor([[1, -1]]), 2).tolist())
        print(k.backend_info()["extension_error"])
        print("emokit._C" in sys.modules)
        """,
        EMOKIT_BACKEND="torch",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["torch [0, 1]", "not loaded (EMOKIT_BACKEND=torch)", "False"]


def test_forcing_a_missing_extension_says_how_to_build_it() -> None:
    proc = run_python(
        """
        import emokit.kernels as k
        try:
            k.backend()
        except k.KernelBackendError as exc:
            print(exc)
        """,
        hide_extension=True,
        EMOKIT_BACKEND="ext",
    )
    assert proc.returncode == 0, proc.stderr
    assert "EMOKIT_BACKEND=ext but emokit._C is not built" in proc.stdout
    assert "pip install --no-build-isolation -e ." in proc.stdout


def test_missing_extension_warns_exactly_once_and_falls_back() -> None:
    proc = run_python(
        """
        import warnings, torch
        import emokit.kernels as k
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backends = {k.backend() for _ in range(3)}
            k.module_counts(torch.tensor([[0, 1]]), 2)
            info = k.backend_info()
        ours = [w for w in caught if issubclass(w.category, k.KernelFallbackWarning)]
        print(sorted(backends), info["backend"], info["extension_error"], len(ours), len(caught))
        print(ours[0].message)
        """,
        hide_extension=True,
    )
    assert proc.returncode == 0, proc.stderr
    summary, message = proc.stdout.splitlines()[:2]
    assert summary == "['torch'] torch emokit._C is not built 1 1"
    assert "pure-PyTorch fallback" in message
    assert "pip install --no-build-isolation -e ." in message
    assert "EMOKIT_BACKEND=torch" in message


def test_unknown_backend_value_is_rejected() -> None:
    proc = run_python("import emokit.kernels as k; k.backend()", EMOKIT_BACKEND="gpu")
    assert proc.returncode != 0
    assert "ValueError: EMOKIT_BACKEND='gpu' is not one of auto, torch, ext" in proc.stderr


def test_setup_skips_the_extension_on_request() -> None:
    proc = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=ROOT,
        env=clean_env(EMOKIT_NO_EXTENSION="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not building emokit._C" in proc.stdout


@pytest.mark.skipif(torch.version.cuda is not None, reason="needs a CPU-only torch")
def test_setup_refuses_force_cuda_with_a_cpu_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=ROOT,
        env=clean_env(FORCE_CUDA="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "FORCE_CUDA=1 needs a CUDA build of torch" in proc.stderr


def _nvcc() -> str | None:
    from torch.utils.cpp_extension import CUDA_HOME

    found = shutil.which("nvcc")
    if found is None and CUDA_HOME is not None and Path(CUDA_HOME, "bin", "nvcc").exists():
        found = str(Path(CUDA_HOME, "bin", "nvcc"))
    return found


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not found")
def test_cuda_kernel_compiles_with_nvcc_for_sm90(tmp_path: Path) -> None:
    """The ATen-free device code compiles even where torch has no CUDA (checked on a CPU machine)."""
    unit = tmp_path / "unit.cu"
    unit.write_text(
        '#include "cuda/module_counts_kernel.cuh"\n'
        "template __global__ void emokit::gpu::module_counts_kernel<int>"
        "(const int*, int64_t, unsigned long long*);\n"
        "template __global__ void emokit::gpu::module_counts_kernel<int64_t>"
        "(const int64_t*, int64_t, unsigned long long*);\n"
    )
    ptx = tmp_path / "unit.ptx"
    proc = subprocess.run(
        [_nvcc(), "-std=c++17", "-arch=sm_90", "-ptx", f"-I{ROOT / 'csrc'}", str(unit), "-o", str(ptx)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    assert text.count(".entry _ZN6emokit3gpu20module_counts_kernel") == 2
    assert "atom.global.add.u64" in text
