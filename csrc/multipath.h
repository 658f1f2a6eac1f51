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

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

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
// The batched multi-path linear layer (docs/kernels.md): one PathNet layer for a whole population.
//
//   multipath_linear(Tensor x, Tensor weight, Tensor bias, Tensor idx) -> Tensor y
//     x      float32/float64 [P, B, Din], or [B, Din]: one input shared by every path
//     weight same dtype [M, Dout, Din];  bias same dtype [M, Dout]
//     idx    int32/int64 [P, K]: module of path p in slot k, -1 = empty slot (K = 0 allowed)
//     y      [P, B, Dout], y[p, b] = sum_{k: idx[p,k] >= 0} relu(x[p, b] @ weight[m].T + bias[m]),
//            m = idx[p, k]; a path with no active module gives zeros; a module repeated in a path
//            counts once per slot. With a shared x, P is idx.size(0).
//
// How both backends compute it (the "plan"): the active (p, k) pairs are sorted by module with a
// stable counting sort over the flat index p * K + k, so pairs of one module are contiguous and in
// (p, k) order. Per module m with n_m pairs, one GEMM:
//   * shared x: act[m] = relu(x @ weight[m].T + bias[m]) once, [B, Dout], added to y[p] of each pair;
//   * per-path x: the n_m input blocks x[p] are gathered into [n_m * B, Din], one GEMM gives
//     [n_m * B, Dout], then bias, ReLU and the scatter-add into y[p] run as one epilogue pass.
// Parallel work never splits the pairs of one path across threads that write the same y[p] (a path may
// use a module in two slots): the CPU kernel gives each task whole rows of the batch, the CUDA
// kernel one thread per run of a path's pairs (see each file's header).
//
//   multipath_linear_train(Tensor x, Tensor weight, Tensor bias, Tensor idx) -> (Tensor y, Tensor act)
//     The same y, plus the post-ReLU activations the backward needs (their sign is the ReLU mask,
//     which cannot be recovered from the sum y):
//       shared x:   act [M, B, Dout], act[m] for every module some path uses, zeros elsewhere;
//       per-path x: act [P * K, B, Dout], row r = the r-th active pair in plan order, zeros after the
//                   last active pair.
//     The shape depends only on the input shapes (a fake/meta kernel can give it).
//
//   multipath_linear_backward(Tensor grad_y, Tensor x, Tensor weight, Tensor bias, Tensor idx,
//                             Tensor? act, bool[3] output_mask) -> (Tensor, Tensor, Tensor)
//     grad_y [P, B, Dout] contiguous; act from multipath_linear_train, or None to recompute it.
//     Returns grad_x (x's shape), grad_weight [M, Dout, Din] (summed over every pair using a module;
//     zero for unused modules), grad_bias [M, Dout]; an output whose output_mask entry is false is not
//     computed and comes back as an empty tensor of shape [0] (a fake kernel can still give shapes). Per module, G = grad_y rows masked by act > 0:
//       grad_bias[m] = column sums of G; grad_weight[m] = G.T @ X_m; grad_x[p] += G_p @ weight[m]
//     (shared x: G is first summed over the module's pairs, so each module costs one GEMM per grad).
//
// Argument checks, in this order, identical in every backend (checks.cpp; fallback.py mirrors them):
//   TypeError:  x not float32/float64; weight or bias not of x's dtype; idx not int32/int64.
//   ValueError: x not 2-D or 3-D; weight not 3-D; bias not 2-D; idx not 2-D; weight.size(2) != Din;
//               bias.size() != [M, Dout]; x 3-D with x.size(0) != idx.size(0); M == 0;
//               an argument on another device than x; an argument not contiguous;
//               an idx entry outside [-1, M).
at::Tensor multipath_linear_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor> multipath_linear_train_cpu(const at::Tensor& x, const at::Tensor& weight,
                                                              const at::Tensor& bias, const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor, at::Tensor> multipath_linear_backward_cpu(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& idx, const std::optional<at::Tensor>& act, std::array<bool, 3> output_mask);

#ifdef WITH_CUDA
// CUDA counterparts (csrc/cuda/). Compiled only when the extension is built with CUDA.
std::string cuda_build_info();
at::Tensor module_counts_cuda(const at::Tensor& idx, int64_t num_modules);
at::Tensor multipath_linear_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor> multipath_linear_train_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                               const at::Tensor& bias, const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor, at::Tensor> multipath_linear_backward_cuda(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& idx, const std::optional<at::Tensor>& act, std::array<bool, 3> output_mask);
#endif

// Device-independent argument checks shared by both backends (csrc/checks.cpp). Checking the range
// of idx reads its minimum and maximum, which synchronises a CUDA stream: a clear error is worth it.
void check_module_index(const at::Tensor& idx, int64_t num_modules, const char* op);

// Every check of multipath_linear listed above, for the op named `op` ("multipath_linear",
// "multipath_linear_train" or "multipath_linear_backward"), idx range included.
void check_multipath_args(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                          const at::Tensor& idx, const char* op);

// The checks of multipath_linear_backward's own arguments (after check_multipath_args): grad_y of x's
// dtype, contiguous [P, B, Dout] and on x's device; act, when given, as multipath_linear_train made it.
void check_multipath_backward_args(const at::Tensor& grad_y, const std::optional<at::Tensor>& act,
                                   const at::Tensor& x, const at::Tensor& weight, const at::Tensor& idx,
                                   const char* op);

// The plan shared by forward and backward: active (p, k) pairs grouped by module (stable counting sort
// over p * K + k). Built on the CPU from a CPU copy of idx (P * K integers).
struct ModulePlan {
  std::vector<int64_t> offsets;  // [M + 1]: module m owns plan positions offsets[m] .. offsets[m+1]
  std::vector<int64_t> path;     // [active pairs], plan order: the path p of each pair
  std::vector<int64_t> slot;     // [active pairs], plan order: the slot k of each pair
  at::Tensor idx;                // int64 CPU copy of idx [P, K], in path order
  int64_t num_modules = 0;
  int64_t active() const { return static_cast<int64_t>(path.size()); }
  int64_t count(int64_t m) const { return offsets[m + 1] - offsets[m]; }
  int64_t widest() const;  // the most pairs of one module
};
ModulePlan make_module_plan(const at::Tensor& idx, int64_t num_modules);

// The sizes of a multipath_linear call, read from checked arguments.
struct Dims {
  bool shared;  // x is [B, Din], one input for every path
  int64_t paths, batch, din, dout, modules, slots;
};
Dims dims_of(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& idx);

// multipath_linear_train's act, allocated in its layout (see above) with the rows the plan never
// writes (unused modules, or the tail after the last active pair) zeroed, so the result is defined.
at::Tensor empty_activations(const at::Tensor& x, const Dims& d, const ModulePlan& plan);

}  // namespace emokit
