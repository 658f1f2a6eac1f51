// Device code of emokit::multipath_linear and its backward: the epilogues around ATen's GEMMs (the
// CPU file's parallel loops), free of ATen so that it compiles with nvcc alone
// (tests/test_cuda_compile.py checks that on machines with nvcc but no CUDA build of torch).
//
// Every kernel is a grid-stride loop over int64 element indices and runs on one module's plan slice:
// `path` holds the path of each of the module's pairs, in plan order. Pairs of one module that share a
// path (a module repeated in two slots) are adjacent in that order and form a "run"; `run_start` holds
// where each run starts among the module's pairs and, last, their count. A kernel that adds into y
// (or grad_x) gives each (run, element) to one thread, which adds the run's pairs in order: no two
// threads write one element and no atomics, so the sums are deterministic and in the CPU kernel's order.
#pragma once

#include <cstdint>

namespace emokit {
namespace gpu {

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// std::max(v, 0) as the CPU kernel computes it: a NaN stays NaN.
template <typename scalar_t>
__device__ __forceinline__ scalar_t relu(scalar_t v) {
  return v < scalar_t(0) ? scalar_t(0) : v;
}

// act = relu(act + bias) in place, for n = rows * dout elements of a row-major [rows, dout] array.
template <typename scalar_t>
__global__ void bias_relu_kernel(scalar_t* __restrict__ act, const scalar_t* __restrict__ bias, int64_t n,
                                 int64_t dout) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    act[i] = relu(act[i] + bias[i % dout]);
  }
}

// dst[path[j]] += src[j] for every pair j, each a row of `width` numbers; src_stride is the distance
// between the rows of consecutive pairs (0: one row shared by every pair). dst is [P, width].
template <typename scalar_t>
__global__ void scatter_add_kernel(scalar_t* __restrict__ dst, const scalar_t* __restrict__ src,
                                   int64_t src_stride, const int64_t* __restrict__ path,
                                   const int64_t* __restrict__ run_start, int64_t runs, int64_t width) {
  const int64_t n = runs * width;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t r = i / width, e = i % width;
    const int64_t begin = run_start[r], end = run_start[r + 1];
    scalar_t* out = dst + path[begin] * width + e;
    scalar_t acc = *out;
    for (int64_t j = begin; j < end; ++j) {
      acc += src[j * src_stride + e];
    }
    *out = acc;
  }
}

// The per-path forward's fused epilogue: out holds x[path[j]] @ W.T for every pair j, pair-major
// ([pairs, width], width = B * Dout); out = relu(out + bias) (kept as the activations) and
// y[path[j]] += out[j]. The runs partition the pairs, so each element of out is visited once.
template <typename scalar_t>
__global__ void bias_relu_scatter_kernel(scalar_t* __restrict__ y, scalar_t* __restrict__ out,
                                         const scalar_t* __restrict__ bias, const int64_t* __restrict__ path,
                                         const int64_t* __restrict__ run_start, int64_t runs, int64_t width,
                                         int64_t dout) {
  const int64_t n = runs * width;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t r = i / width, e = i % width;
    const int64_t begin = run_start[r], end = run_start[r + 1];
    const scalar_t b = bias[e % dout];
    scalar_t* dst = y + path[begin] * width + e;
    scalar_t acc = *dst;
    for (int64_t j = begin; j < end; ++j) {
      const scalar_t v = relu(out[j * width + e] + b);
      out[j * width + e] = v;
      acc += v;
    }
    *dst = acc;
  }
}

// Shared input, backward: g[e] = act[e] > 0 ? sum_j grad_y[path[j]][e] : 0 over the module's pairs in
// order, e < width = B * Dout. The activation is the same for every pair, so one G serves them all.
template <typename scalar_t>
__global__ void mask_sum_kernel(scalar_t* __restrict__ g, const scalar_t* __restrict__ act,
                                const scalar_t* __restrict__ grad_y, const int64_t* __restrict__ path,
                                int64_t pairs, int64_t width) {
  for (int64_t e = first_index(); e < width; e += grid_stride()) {
    scalar_t acc = scalar_t(0);
    for (int64_t j = 0; j < pairs; ++j) {
      acc += grad_y[path[j] * width + e];
    }
    g[e] = act[e] > scalar_t(0) ? acc : scalar_t(0);
  }
}

// Per-path input, backward: g[j][e] = act[j][e] > 0 ? grad_y[path[j]][e] : 0, pair-major like the
// forward's GEMM output, for n = pairs * width elements (width = B * Dout).
template <typename scalar_t>
__global__ void mask_gather_kernel(scalar_t* __restrict__ g, const scalar_t* __restrict__ act,
                                   const scalar_t* __restrict__ grad_y, const int64_t* __restrict__ path,
                                   int64_t n, int64_t width) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t j = i / width, e = i % width;
    g[i] = act[i] > scalar_t(0) ? grad_y[path[j] * width + e] : scalar_t(0);
  }
}

}  // namespace gpu
}  // namespace emokit
