// CUDA launcher of emokit::module_counts and the CUDA build facts (compiled only WITH_CUDA).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>  // not ATen/cuda/CUDAContext.h, which drags in cuBLAS and cuSPARSE
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "cuda/module_counts_kernel.cuh"
#include "multipath.h"

#define EMOKIT_STRINGIFY_(...) #__VA_ARGS__
#define EMOKIT_STRINGIFY(...) EMOKIT_STRINGIFY_(__VA_ARGS__)

namespace emokit {

std::string cuda_build_info() {
  std::string info = "cuda_runtime=" + std::to_string(CUDART_VERSION);
#ifdef __CUDA_ARCH_LIST__
  // The architectures nvcc generated code for, e.g. "800,900".
  info += ";cuda_arch=" EMOKIT_STRINGIFY(__CUDA_ARCH_LIST__);
#endif
  return info;
}

at::Tensor module_counts_cuda(const at::Tensor& idx, int64_t num_modules) {
  TORCH_INTERNAL_ASSERT(idx.device().is_cuda());
  check_module_index(idx, num_modules, "module_counts");
  const c10::cuda::CUDAGuard device_guard(idx.device());
  const at::Tensor flat = idx.contiguous().view({-1});
  at::Tensor counts = at::zeros({num_modules}, idx.options().dtype(at::kLong));
  const int64_t n = flat.numel();
  if (n == 0) {
    return counts;
  }
  constexpr int kThreads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 4096));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  // int64 counts are never negative, so they can be added to as unsigned long long.
  auto* out = reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>());
  AT_DISPATCH_INDEX_TYPES(flat.scalar_type(), "emokit_module_counts_cuda", [&] {
    gpu::module_counts_kernel<index_t><<<blocks, kThreads, 0, stream>>>(flat.const_data_ptr<index_t>(), n, out);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return counts;
}

}  // namespace emokit
