"""Build and install emokit.

The ``emokit._C`` extension is compiled from csrc/ with ninja against the installed torch.
Install torch first and build without isolation, so pip never pulls a second (CUDA) torch::

    pip install torch==2.13.0 setuptools wheel ninja
    pip install --no-build-isolation -e .

By default the CPU kernels are built, plus the CUDA kernels when torch is a CUDA build and the CUDA
toolkit (nvcc) is found; the architectures come from TORCH_CUDA_ARCH_LIST, else from the GPUs
visible, else from those torch was built for. Environment overrides (read at build time):
    EMOKIT_NO_EXTENSION=1  skip the extension; emokit then runs on its pure-PyTorch fallback.
    FORCE_CUDA=1           require the CUDA kernels: fail the build if torch has no CUDA or nvcc is
                           missing, instead of quietly building the CPU kernels only.
    FORCE_CPU=1            build the CPU kernels only, even where CUDA is available.
    EMOKIT_DEBUG_BUILD=1   compile with -O0 -g.
    NVCC_FLAGS="..."       extra nvcc flags; MAX_JOBS=N limits ninja's parallel compile jobs.
The same sources also build with CMake against libtorch, for C++ work: see CMakeLists.txt.
"""

from __future__ import annotations

import glob
import os
import re
import sys

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

#: Commands that only describe or pack the sources; they need no torch and compile nothing.
_METADATA_COMMANDS = {"sdist", "egg_info", "dist_info", "check", "--name", "--version"}


def _version() -> str:
    """The single source of the version: emokit/_version.py (read, not imported: no torch here)."""
    with open(os.path.join(HERE, "emokit", "_version.py"), encoding="utf-8") as fh:
        match = re.search(r'^__version__ = "([^"]+)"', fh.read(), re.MULTILINE)
    if match is None:
        raise RuntimeError('emokit/_version.py has no `__version__ = "..."` line')
    return match.group(1)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _openmp_flags(torch) -> tuple[list[str], list[str]]:
    """Compile and link flags for OpenMP, used only where torch itself runs on OpenMP.

    Mixing OpenMP runtimes with torch's is what breaks (macOS wheels use native threads), so the
    extension follows torch: at::parallel_for then maps to the same thread pool either way.
    """
    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info() or sys.platform == "darwin":
        print("emokit: compiling without OpenMP (torch does not use it here)")
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    return ["-fopenmp"], ["-fopenmp"]


def _torch_rpath(torch) -> list[str]:
    """Let the library find libtorch/libc10 itself, so `import emokit._C` works before `import torch`.

    Installed from a wheel, torch sits beside emokit in site-packages ($ORIGIN/../torch/lib); in an
    editable install the library stays in the source tree, so the build's torch is named as well.
    """
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    if sys.platform.startswith("linux"):
        return [f"-Wl,-rpath,$ORIGIN/../torch/lib:{torch_lib}"]
    if sys.platform == "darwin":
        return ["-Wl,-rpath,@loader_path/../torch/lib", f"-Wl,-rpath,{torch_lib}"]
    return []


def _default_cuda_arch_list(torch) -> None:
    """Without a visible GPU, torch cannot pick the architectures: use those torch was built for."""
    if os.environ.get("TORCH_CUDA_ARCH_LIST") or torch.cuda.device_count() > 0:
        return
    archs = sorted(int(a[3:]) for a in torch.cuda.get_arch_list() if a.startswith("sm_"))
    if not archs:
        raise RuntimeError(
            "no GPU visible to build CUDA kernels for: set TORCH_CUDA_ARCH_LIST, e.g. '8.0;9.0+PTX'"
        )
    arch_list = ";".join(f"{a // 10}.{a % 10}" for a in archs) + "+PTX"
    os.environ["TORCH_CUDA_ARCH_LIST"] = arch_list
    print(f"emokit: no GPU visible, building for TORCH_CUDA_ARCH_LIST={arch_list}")


def extension_modules() -> tuple[list, dict, dict]:
    """The emokit._C extension, the build_ext command and the setup() options that go with it.

    CPU kernels always; CUDA kernels when torch has CUDA and nvcc is found (FORCE_CUDA=1 makes
    that an error if not), unless FORCE_CPU=1. EMOKIT_DEBUG_BUILD=1 compiles with -O0 -g.
    Parallel jobs: MAX_JOBS (torch's knob).
    """
    if _flag("EMOKIT_NO_EXTENSION"):
        print("emokit: EMOKIT_NO_EXTENSION=1, not building emokit._C (pure-PyTorch fallback only)")
        return [], {}, {}
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
    except ImportError as exc:
        if _METADATA_COMMANDS.intersection(sys.argv[1:]):
            # `python -m build --sdist` (isolated: no torch) only packs csrc/; the extension is
            # compiled when that sdist is installed, next to the user's torch.
            return [], {}, {}
        raise RuntimeError(
            "building emokit's C++ extension needs torch installed first, and pip run without build "
            "isolation: `pip install torch setuptools wheel ninja` then `pip install --no-build-isolation "
            "-e .`; or set EMOKIT_NO_EXTENSION=1 to install without the extension"
        ) from exc

    csrc = os.path.join(HERE, "csrc")

    def sources_in(pattern: str) -> list[str]:
        # Relative to the project root, which is setup.py's working directory under pip.
        return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(csrc, pattern)))

    sources = sources_in("*.cpp") + sources_in(os.path.join("cpu", "*.cpp"))
    cuda_sources = sources_in(os.path.join("cuda", "*.cu"))
    if not sources:
        raise RuntimeError(f"no C++ sources found under {csrc}; is this an emokit source tree?")
    if _flag("FORCE_CPU"):
        with_cuda = False
    elif _flag("FORCE_CUDA"):
        if torch.version.cuda is None or CUDA_HOME is None:
            raise RuntimeError(
                "FORCE_CUDA=1 needs a CUDA build of torch and the CUDA toolkit (nvcc); found torch "
                f"{torch.__version__} (CUDA {torch.version.cuda}) and CUDA_HOME={CUDA_HOME}"
            )
        with_cuda = True
        _default_cuda_arch_list(torch)
    else:
        # A CUDA build of torch and nvcc are enough: a machine that builds need not have a GPU.
        with_cuda = torch.version.cuda is not None and CUDA_HOME is not None
        if with_cuda:
            _default_cuda_arch_list(torch)

    debug = _flag("EMOKIT_DEBUG_BUILD")
    opt = ["-O0", "-g"] if debug else ["-O3"]
    omp_compile, omp_link = _openmp_flags(torch)
    # -g0 cancels the -g of Python's own CFLAGS: debug info of torch's templates makes the library 45x
    # larger (4.8 MB instead of 105 kB) for nothing in a release build.
    cxx = ([*opt] if debug else [*opt, "-g0"]) if os.name != "nt" else ["/O2"]
    cxx += omp_compile
    # EMOKIT_PYTHON_MODULE adds PyInit__C; torch itself defines Py_LIMITED_API for py_limited_api.
    macros = [("EMOKIT_PYTHON_MODULE", None)]
    common = dict(include_dirs=[csrc], extra_link_args=omp_link + _torch_rpath(torch), py_limited_api=True)
    if with_cuda:
        print(f"emokit: building emokit._C with CPU and CUDA kernels (nvcc from {CUDA_HOME})")
        nvcc = [*opt, "--expt-relaxed-constexpr", *os.environ.get("NVCC_FLAGS", "").split()]
        ext = CUDAExtension(
            "emokit._C",
            sources + cuda_sources,
            define_macros=[*macros, ("WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
            **common,
        )
    else:
        print("emokit: building emokit._C with CPU kernels")
        ext = CppExtension(
            "emokit._C", sources, define_macros=macros, extra_compile_args={"cxx": cxx}, **common
        )
    cmdclass = {"build_ext": BuildExtension.with_options(use_ninja=True)}
    # One abi3 wheel for every CPython >= 3.10 (torch builds with Py_LIMITED_API=0x030A0000).
    options = {"bdist_wheel": {"py_limited_api": "cp310"}}
    return [ext], cmdclass, options


def _readme() -> str:
    path = os.path.join(HERE, "README.md")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


ext_modules, cmdclass, options = extension_modules()

setup(
    name="emokit",
    version=_version(),
    description="Cross-corpus emotion recognition: PathNet meta-transfer, fine-tuning and FDAN, benchmarked",
    long_description=_readme(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["emokit", "emokit.*"])
    + ["emokit_plugins"]
    + ["emokit_plugins." + p for p in find_packages("plugins")],
    package_dir={"emokit_plugins": "plugins"},
    # The new-plugin templates and the PEP 561 marker travel with the package (MANIFEST.in puts
    # them, csrc/ and the docs in the sdist).
    package_data={
        "emokit": ["py.typed"],
        "emokit.cli": ["plugin_template/**/*.tmpl"],
        "emokit.results": ["result.schema.json"],
    },
    include_package_data=True,
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    options=options,
    install_requires=[
        # torch is deliberately unpinned-by-range here: install torch first (see README), so a
        # CPU machine keeps its CPU wheel and pip never pulls the CUDA build as a dependency.
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "threadpoolctl>=3",  # one BLAS thread per cell (scikit-learn brings it too)
        "pluggy>=1.3",
        "rich>=13",
        "platformdirs>=3",
        "soundfile>=0.12",
        "librosa>=0.10",
        "opensmile>=2.5",
        "av>=11",
        "scikit-image>=0.22",  # the face extractor's LBP frontal-face cascade (shipped in the wheel)
        "espeakng-loader>=0.2",
        "pandas>=1.5",  # RunResults.to_frame, emokit report --format csv
        "tomli>=2; python_version < '3.11'",
    ],
    # ray: --executor ray (streaming task generators need 2.9 or newer); the tests run a local Ray
    # import-linter: the layering contract in .importlinter; build: the sdist test; matplotlib: the
    # plot tests; jsonschema: every result file the tests write is checked against its schema;
    # transformers: the ssl extractor's tests (tiny random models, nothing downloaded).
    extras_require={
        "ray": ["ray>=2.9"],
        "plot": ["matplotlib>=3.7"],
        # --features ssl: wav2vec 2.0 / HuBERT / WavLM checkpoints from a local folder
        "ssl": ["transformers>=4.40"],
        "test": [
            "pytest>=7",
            "ruff>=0.4",
            "ray>=2.9",
            "import-linter>=2.1",
            "build>=1",
            "matplotlib>=3.7",
            "jsonschema>=4.18",
            "transformers>=4.40",
        ],
    },
    entry_points={
        "console_scripts": ["emokit = emokit.cli:main"],
        "emokit": [
            "corpora = emokit_plugins.corpora",
            "manifests = emokit_plugins.manifests",
            "simulated = emokit_plugins.simulated",
            "features = emokit_plugins.features",
            "baselines = emokit_plugins.baselines",
            "pathnet = emokit_plugins.pathnet",
            "cascade = emokit_plugins.cascade",
            "fdan = emokit_plugins.fdan",
        ],
    },
)
