// Device code of emokit::module_counts, free of ATen so that it compiles with nvcc alone
// (tests/test_kernels_build.py checks that on machines with nvcc but no CUDA build of torch).
#pragma once

#include <cstdint>

namespace emokit {
namespace gpu {

// counts[m] += number of i with idx[i] == m; negative entries (empty slots) are skipped.
// The caller has checked that every idx[i] lies in [-1, num_modules).
template <typename index_t>
__global__ void module_counts_kernel(const index_t* __restrict__ idx, int64_t n,
                                     unsigned long long* __restrict__ counts) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const index_t m = idx[i];
    if (m >= 0) {
      atomicAdd(counts + m, 1ULL);
    }
  }
}

}  // namespace gpu
}  // namespace emokit
