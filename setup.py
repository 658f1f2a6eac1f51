"""Build and install emokit.

The ``emokit._C`` extension is compiled from csrc/ with ninja against the installed torch.
Install torch first and build without isolation, so pip never pulls a second (CUDA) torch::

    pip install torch==2.13.0 setuptools wheel ninja
    pip install --no-build-isolation -e .

Environment overrides (read at build time):
    EMOKIT_NO_EXTENSION=1  skip the extension; emokit then runs on its pure-PyTorch fallback.
    FORCE_CUDA=1           build the CUDA kernels even when no GPU is visible (needs nvcc and a
                           CUDA build of torch).
    FORCE_CPU=1            build the CPU kernels only, even where CUDA is available.
"""

from __future__ import annotations

import glob
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def extension_modules() -> tuple[list, dict]:
    if _flag("EMOKIT_NO_EXTENSION"):
        return [], {}
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")) + glob.glob(os.path.join("csrc", "cpu", "*.cpp")))
    cuda_sources = sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
    want_cuda = not _flag("FORCE_CPU") and (
        _flag("FORCE_CUDA") or (torch.cuda.is_available() and CUDA_HOME is not None)
    )
    if want_cuda and torch.version.cuda is None:
        raise RuntimeError("FORCE_CUDA=1 needs a CUDA build of torch; this torch is CPU-only")
    cxx = ["-O3", "-std=c++17", "-fopenmp"]
    define_macros = [("Py_LIMITED_API", "0x03090000")]
    if want_cuda:
        ext = CUDAExtension(
            "emokit._C",
            sources + cuda_sources,
            define_macros=define_macros + [("WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "--use_fast_math", "-std=c++17"]},
            extra_link_args=["-fopenmp"],
            py_limited_api=True,
        )
    else:
        ext = CppExtension(
            "emokit._C",
            sources,
            define_macros=define_macros,
            extra_compile_args={"cxx": cxx},
            extra_link_args=["-fopenmp"],
            py_limited_api=True,
        )
    return [ext], {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = extension_modules()

setup(
    name="emokit",
    version="0.1.0",
    description="Cross-corpus emotion recognition: PathNet meta-transfer, fine-tuning and FDAN, benchmarked",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["emokit", "emokit.*"]) + ["emokit_plugins"]
    + ["emokit_plugins." + p for p in find_packages("plugins")],
    package_dir={"emokit_plugins": "plugins"},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    install_requires=[
        # torch is deliberately unpinned-by-range here: install torch first (see README), so a
        # CPU machine keeps its CPU wheel and pip never pulls the CUDA build as a dependency.
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "pluggy>=1.3",
        "rich>=13",
        "platformdirs>=3",
        "soundfile>=0.12",
        "librosa>=0.10",
        "opensmile>=2.5",
        "av>=11",
        "espeakng-loader>=0.2",
    ],
    extras_require={"test": ["pytest>=7", "ruff>=0.4"]},
    entry_points={
        "console_scripts": ["emokit = emokit.cli:main"],
        "emokit": [
            "corpora = emokit_plugins.corpora",
            "simulated = emokit_plugins.simulated",
            "features = emokit_plugins.features",
            "baselines = emokit_plugins.baselines",
        ],
    },
)
