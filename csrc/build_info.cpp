// emokit::backend_info(): what this build of the extension contains and how it runs, so that a
// result file can say which kernels produced its numbers.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <sstream>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "multipath.h"

namespace emokit {

namespace {

std::string compiler_name() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

}  // namespace

std::string backend_info() {
  std::ostringstream out;
#ifdef WITH_CUDA
  out << "cpu+cuda";
#else
  out << "cpu";
#endif
  out << ";compiler=" << compiler_name();
  out << ";torch=" << TORCH_VERSION;
#ifdef _OPENMP
  // _OPENMP is the spec date the compiler implements (201511 = OpenMP 4.5).
  out << ";openmp=" << _OPENMP << ";omp_max_threads=" << omp_get_max_threads();
#else
  out << ";openmp=none";
#endif
  out << ";aten_threads=" << at::get_num_threads();
#ifdef WITH_CUDA
  out << ";" << cuda_build_info();
#endif
  return out.str();
}

}  // namespace emokit
