// Registration of the `emokit` torch library: every op is called from Python as torch.ops.emokit.<op>.
//
// The same sources build two artefacts:
//   * the Python module emokit._C (setup.py defines EMOKIT_PYTHON_MODULE): importing it loads this
//     shared object, whose static TORCH_LIBRARY initialisers register the ops;
//   * a plain shared library for libtorch (CMakeLists.txt), loaded with torch.ops.load_library.
// No pybind11: ops go through the dispatcher only, so the module builds against the limited Python
// API (one abi3 wheel for every CPython >= 3.10) and does not link libtorch_python.
#ifdef EMOKIT_PYTHON_MODULE
#include <Python.h>  // first, as Python requires

extern "C" {
// An empty module: its only job is to make `import emokit._C` load this library.
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",
      "emokit's C++/CUDA kernels; the ops live in torch.ops.emokit.",
      -1,
      nullptr,
  };
  return PyModule_Create(&module_def);
}
}
#endif

#include <torch/library.h>

#include "multipath.h"

TORCH_LIBRARY(emokit, m) {
  // No tensor argument, hence nothing to dispatch on: a catch-all kernel.
  m.def("backend_info() -> str", &emokit::backend_info);
  m.def("module_counts(Tensor idx, int num_modules) -> Tensor");
  // The multi-path layer (contract in multipath.h). Autograd and fake (meta) kernels are registered
  // from Python, in emokit/kernels/extension.py, as pytorch/extension-cpp does.
  m.def("multipath_linear(Tensor x, Tensor weight, Tensor bias, Tensor idx) -> Tensor");
  m.def("multipath_linear_train(Tensor x, Tensor weight, Tensor bias, Tensor idx) -> (Tensor, Tensor)");
  m.def(
      "multipath_linear_backward(Tensor grad_y, Tensor x, Tensor weight, Tensor bias, Tensor idx, "
      "Tensor? act, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(emokit, CPU, m) {
  m.impl("module_counts", &emokit::module_counts_cpu);
  m.impl("multipath_linear", &emokit::multipath_linear_cpu);
  m.impl("multipath_linear_train", &emokit::multipath_linear_train_cpu);
  m.impl("multipath_linear_backward", &emokit::multipath_linear_backward_cpu);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(emokit, CUDA, m) {
  m.impl("module_counts", &emokit::module_counts_cuda);
  m.impl("multipath_linear", &emokit::multipath_linear_cuda);
  m.impl("multipath_linear_train", &emokit::multipath_linear_train_cuda);
  m.impl("multipath_linear_backward", &emokit::multipath_linear_backward_cuda);
}
#endif
