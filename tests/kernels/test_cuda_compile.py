"""nvcc compiles every CUDA source of emokit._C, so CUDA code cannot rot unseen on machines without a GPU.

Where nvcc is installed, each csrc/cuda/*.cu file is compiled to an object for sm_80 and sm_90 with the
flags of the real build (torch.utils.cpp_extension's), against the installed torch's headers, even when
torch is a CPU build. Such a torch ships the c10/cuda headers but not the one its CUDA build generates,
c10/cuda/impl/cuda_cmake_macros.h: a stub written to a temporary folder stands in for it. Each compile
spends most of its 30-40 s of CPU on torch's headers, so all files compile at once, one nvcc each.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from torch.utils.cpp_extension import COMMON_NVCC_FLAGS, CUDA_HOME, include_paths

ROOT = Path(__file__).resolve().parents[2]
CUDA_SOURCES = sorted((ROOT / "csrc" / "cuda").glob("*.cu"))
ARCHS = ("sm_80", "sm_90")
GENERATED_HEADER = Path("c10", "cuda", "impl", "cuda_cmake_macros.h")


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found is None and CUDA_HOME is not None and Path(CUDA_HOME, "bin", "nvcc").exists():
        found = str(Path(CUDA_HOME, "bin", "nvcc"))
    return found


NVCC = _nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (neither on PATH nor in CUDA_HOME)")


def _generated_header_stub(folder: Path) -> list[str]:
    """-I flags for a stub of torch's generated CUDA header, or none where torch has the real one.

    The real header comes from c10/cuda/impl/cuda_cmake_macros.h.in: C10_CUDA_BUILD_SHARED_LIBS (torch's
    libraries are shared) and the CUDA version torch was built with, here nvcc's.
    """
    if any(Path(d, GENERATED_HEADER).exists() for d in include_paths()):
        return []
    version = subprocess.run([NVCC, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"release (\d+)\.(\d+), V\d+\.\d+\.(\d+)", version)
    major, minor, patch = found.groups() if found else ("0", "0", "0")
    header = folder / GENERATED_HEADER
    header.parent.mkdir(parents=True)
    header.write_text(
        "#pragma once\n"
        "#define C10_CUDA_BUILD_SHARED_LIBS\n"
        f"#define TORCH_CUDA_VERSION_MAJOR {major}\n"
        f"#define TORCH_CUDA_VERSION_MINOR {minor}\n"
        f"#define TORCH_CUDA_VERSION_PATCH {patch}\n"
        "#define TORCH_CUDA_VERSION_BUILD 0\n"
    )
    return [f"-I{folder}"]


def nvcc_command(source: Path, obj: Path, stub_flags: list[str], threads: int) -> list[str]:
    """The real build's nvcc flags (setup.py, cpp_extension), at -O0 for speed: the device code is
    still generated and assembled (ptxas) for every architecture, which --resource-usage reports."""
    gencode = [f"-gencode=arch=compute_{a[3:]},code={a}" for a in ARCHS]
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [
        NVCC,
        "-c",
        str(source),
        "-o",
        str(obj),
        *gencode,
        f"--threads={threads}",
        "--resource-usage",
        "-std=c++20",
        "-O0",
        *COMMON_NVCC_FLAGS,  # --expt-relaxed-constexpr and the half/bfloat16 operator switches
        "-Xcompiler=-fPIC",
        "-DWITH_CUDA",
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        f"-I{ROOT / 'csrc'}",
        *(f"-I{d}" for d in include_paths()),
        *stub_flags,
    ]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every .cu file compiled at once (one nvcc per file, the cores shared out): name -> (object, run)."""
    folder = tmp_path_factory.mktemp("nvcc")
    stub_flags = _generated_header_stub(folder / "stub")
    cores = os.cpu_count() or 1
    workers = max(1, min(len(CUDA_SOURCES), cores))
    threads = max(1, min(len(ARCHS), cores // workers))  # nvcc compiles the architectures in parallel

    def build(source: Path) -> tuple[Path, subprocess.CompletedProcess]:
        obj = folder / f"{source.stem}.o"
        run = subprocess.run(
            nvcc_command(source, obj, stub_flags, threads), capture_output=True, text=True, timeout=900
        )
        return obj, run

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip((s.name for s in CUDA_SOURCES), pool.map(build, CUDA_SOURCES), strict=True))


@pytest.mark.parametrize("name", [s.name for s in CUDA_SOURCES])
def test_cuda_source_compiles_for_sm80_and_sm90(
    compiled: dict[str, tuple[Path, subprocess.CompletedProcess]], name: str
) -> None:
    obj, run = compiled[name]
    assert run.returncode == 0, f"nvcc failed on csrc/cuda/{name}:\n{' '.join(run.args)}\n{run.stderr}"
    assert obj.stat().st_size > 0
    assembled = set(re.findall(r"Compiling entry function '\w+' for '(sm_\d+)'", run.stdout + run.stderr))
    assert assembled == set(ARCHS), f"ptxas compiled csrc/cuda/{name}'s kernels for {sorted(assembled)}"
    tool_dirs = os.pathsep.join([str(Path(NVCC).parent), os.environ.get("PATH", os.defpath)])
    cuobjdump = shutil.which("cuobjdump", path=tool_dirs)
    if cuobjdump is not None:  # the toolkit's own listing of the cubins embedded in the object
        listing = subprocess.run([cuobjdump, "--list-elf", obj], capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        assert set(re.findall(r"\.(sm_\d+)\.cubin", listing.stdout)) == set(ARCHS), listing.stdout


KERNEL_INSTANTIATIONS = """
#include "cuda/multipath_linear_kernels.cuh"
namespace emokit { namespace gpu {
#define INSTANTIATE(T) \\
  template __global__ void bias_relu_kernel<T>(T*, const T*, int64_t, int64_t); \\
  template __global__ void scatter_add_kernel<T>(T*, const T*, int64_t, const int64_t*, const int64_t*, \\
                                                 int64_t, int64_t); \\
  template __global__ void bias_relu_scatter_kernel<T>(T*, T*, const T*, const int64_t*, const int64_t*, \\
                                                       int64_t, int64_t, int64_t); \\
  template __global__ void mask_sum_kernel<T>(T*, const T*, const T*, const int64_t*, int64_t, int64_t); \\
  template __global__ void mask_gather_kernel<T>(T*, const T*, const T*, const int64_t*, int64_t, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
}}
"""


def test_multipath_kernels_compile_alone_without_atomics(tmp_path: Path) -> None:
    """The ATen-free device code of multipath_linear builds with bare nvcc, and adds without atomics
    (its sums are deterministic)."""
    unit = tmp_path / "unit.cu"
    unit.write_text(KERNEL_INSTANTIATIONS)
    ptx = tmp_path / "unit.ptx"
    proc = subprocess.run(
        [NVCC, "-std=c++17", "-arch=sm_90", "-ptx", f"-I{ROOT / 'csrc'}", str(unit), "-o", str(ptx)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    assert len(re.findall(r"\.entry _ZN6emokit3gpu\d+\w+_kernelI[fd]E", text)) == 10
    assert re.search(r"\b(atom|red)\.", text) is None
