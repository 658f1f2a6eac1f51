// Op interface of the emokit._C extension, shared by the CPU and CUDA backends.
//
// Every op is registered in the `emokit` torch library (csrc/bindings.cpp) and called from Python as
// torch.ops.emokit.<name>; emokit/kernels/ chooses between these ops and the pure-PyTorch fallback,
// which is the reference implementation of the same contract (same results, same errors).
//
// Error convention (kept identical in the fallback): a wrong dtype raises TypeError
// (TORCH_CHECK_TYPE), a wrong shape or an out-of-range value raises ValueError (TORCH_CHECK_VALUE),
// and every message starts with "emokit.<op>:" and names the argument at fault.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace emokit {

// ---------------------------------------------------------------------------------------------------
// Build and runtime facts: "emokit::backend_info() -> str".
//
// Returns "<backends>;key=value;..." where <backends> is "cpu" or "cpu+cuda" (the kernels compiled
// in), followed by compiler, OpenMP, torch and CUDA facts. emokit.kernels.backend_info() parses it.
std::string backend_info();

// ---------------------------------------------------------------------------------------------------
// "emokit::module_counts(Tensor idx, int num_modules) -> Tensor".
//
// idx: int32/int64 [P, K], module chosen by path p in slot k, -1 = empty slot (the `idx` of
// multipath_linear). Returns int64 [num_modules]: how many (path, slot) pairs use each module. It is
// the histogram step of grouping rows by module, and the smallest op that exercises both backends.
at::Tensor module_counts_cpu(const at::Tensor& idx, int64_t num_modules);

// ---------------------------------------------------------------------------------------------------
// The batched multi-path linear layer (DESIGN.md section 4), implemented by the kernels issue and
// NOT registered yet; declared here so both backends are written against one signature:
//
//   multipath_linear(Tensor x, Tensor weight, Tensor bias, Tensor idx) -> Tensor
//     x [P, B, Din] or [B, Din] (shared input), weight [M, Dout, Din], bias [M, Dout], idx [P, K]
//     y[p, b] = sum_{k: idx[p,k] >= 0} relu(x[p, b] @ weight[idx[p,k]].T + bias[idx[p,k]])
at::Tensor multipath_linear_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& idx);

#ifdef WITH_CUDA
// CUDA counterparts (csrc/cuda/). Compiled only when the extension is built with CUDA.
std::string cuda_build_info();
at::Tensor module_counts_cuda(const at::Tensor& idx, int64_t num_modules);
at::Tensor multipath_linear_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& idx);
#endif

// Device-independent argument checks shared by both backends (csrc/checks.cpp). Checking the range
// of idx reads its minimum and maximum, which synchronises a CUDA stream: a clear error is worth it.
void check_module_index(const at::Tensor& idx, int64_t num_modules, const char* op);

}  // namespace emokit
