// CUDA kernels of emokit::multipath_linear, multipath_linear_train and multipath_linear_backward
// (contract and plan in multipath.h), computed as csrc/cpu/multipath_linear.cpp does.
//
// The plan is built on the host from a copy of idx, as on the CPU, and uploaded once per call. The
// GEMMs are ATen's (cuBLAS, reached through libtorch, so no cuBLAS header is needed here), one per
// module; bias, ReLU, the sum over slots and the backward's masking are this file's kernels
// (multipath_linear_kernels.cuh), which add in a fixed order without atomics, so results are
// deterministic. Everything runs on the current stream of x's device.

// Per-op ATen headers: ATen/ATen.h declares every op and makes this file compile a quarter slower.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>  // not ATen/cuda/CUDAContext.h, which drags in cuBLAS and cuSPARSE

#include <algorithm>
#include <vector>

#include "cuda/multipath_linear_kernels.cuh"
#include "multipath.h"

namespace emokit {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // the kernels loop over the rest (grid-stride)

int blocks_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)); }

// The plan, with what the kernels read of it on the device: `data` holds the path of every pair in
// plan order, then, per module, the starts of its runs of pairs with one path (relative to the
// module's first pair; see multipath_linear_kernels.cuh) closed by the module's pair count.
struct DevicePlan {
  ModulePlan host;
  std::vector<int64_t> run_offset;  // [M + 1]: module m's run list starts at data[active + run_offset[m]]
  at::Tensor data;                  // int64, on x's device

  int64_t runs(int64_t m) const { return run_offset[m + 1] - run_offset[m] - 1; }
  const int64_t* path(int64_t m) const { return data.const_data_ptr<int64_t>() + host.offsets[m]; }
  const int64_t* run_start(int64_t m) const {
    return data.const_data_ptr<int64_t>() + host.active() + run_offset[m];
  }
  at::Tensor path_index(int64_t m) const { return data.narrow(0, host.offsets[m], host.count(m)); }
};

DevicePlan make_device_plan(const at::Tensor& idx, int64_t num_modules, const at::Device& device) {
  DevicePlan dp;
  dp.host = make_module_plan(idx, num_modules);
  const ModulePlan& plan = dp.host;
  std::vector<int64_t> data(plan.path);
  dp.run_offset.reserve(num_modules + 1);
  for (int64_t m = 0; m < num_modules; ++m) {
    dp.run_offset.push_back(static_cast<int64_t>(data.size()) - plan.active());
    const int64_t* path = plan.path.data() + plan.offsets[m];
    const int64_t n = plan.count(m);
    for (int64_t j = 0; j < n; ++j) {
      if (j == 0 || path[j] != path[j - 1]) {
        data.push_back(j);
      }
    }
    data.push_back(n);
  }
  dp.run_offset.push_back(static_cast<int64_t>(data.size()) - plan.active());
  // A blocking copy (from pageable memory, on the current stream): `data` may go once it returns.
  dp.data = at::from_blob(data.data(), {static_cast<int64_t>(data.size())}, at::TensorOptions().dtype(at::kLong))
                .to(device);
  return dp;
}

// The forward of both ops; act is defined only for multipath_linear_train (layouts in multipath.h).
at::Tensor forward_impl(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const Dims& d,
                        const DevicePlan& dp, at::Tensor* act) {
  const ModulePlan& plan = dp.host;
  at::Tensor y = at::zeros({d.paths, d.batch, d.dout}, x.options());
  if (act != nullptr) {
    *act = empty_activations(x, d, plan);
  }
  if (plan.active() == 0 || d.batch == 0 || d.dout == 0) {
    return y;
  }
  // Scratch space reused by every module: its GEMM output (unless it goes straight into act) and,
  // for a per-path input, its gathered input rows.
  at::Tensor out_buf =
      act ? at::Tensor() : at::empty({d.shared ? d.batch : dp.host.widest() * d.batch, d.dout}, x.options());
  const at::Tensor x_rows = d.shared ? x : x.view({d.paths, d.batch * d.din});
  at::Tensor gather_buf = d.shared ? at::Tensor() : at::empty({dp.host.widest(), d.batch * d.din}, x.options());
  const int64_t width = d.batch * d.dout;  // numbers in one pair's [B, Dout] block
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "emokit_multipath_linear_cuda", [&] {
    scalar_t* y_ptr = y.data_ptr<scalar_t>();
    for (int64_t m = 0; m < d.modules; ++m) {
      const int64_t n = plan.count(m);
      if (n == 0) {
        continue;
      }
      const int64_t first = plan.offsets[m];
      const int64_t runs = dp.runs(m);
      const at::Tensor w_t = weight[m].t();
      const scalar_t* b_ptr = bias[m].const_data_ptr<scalar_t>();
      if (d.shared) {
        at::Tensor out = act ? (*act)[m] : out_buf;
        at::mm_out(out, x, w_t);
        scalar_t* out_ptr = out.data_ptr<scalar_t>();
        gpu::bias_relu_kernel<scalar_t><<<blocks_for(width), kThreads, 0, stream>>>(out_ptr, b_ptr, width, d.dout);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        gpu::scatter_add_kernel<scalar_t><<<blocks_for(runs * width), kThreads, 0, stream>>>(
            y_ptr, out_ptr, 0, dp.path(m), dp.run_start(m), runs, width);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      } else {
        at::Tensor rows = gather_buf.narrow(0, 0, n);
        at::index_select_out(rows, x_rows, 0, dp.path_index(m));
        at::Tensor out = act ? act->narrow(0, first, n).view({n * d.batch, d.dout})
                             : out_buf.narrow(0, 0, n * d.batch);
        at::mm_out(out, rows.view({n * d.batch, d.din}), w_t);
        gpu::bias_relu_scatter_kernel<scalar_t><<<blocks_for(runs * width), kThreads, 0, stream>>>(
            y_ptr, out.data_ptr<scalar_t>(), b_ptr, dp.path(m), dp.run_start(m), runs, width, d.dout);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    }
  });
  return y;
}

}  // namespace

at::Tensor multipath_linear_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& idx) {
  check_multipath_args(x, weight, bias, idx, "multipath_linear");
  TORCH_INTERNAL_ASSERT(x.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const Dims d = dims_of(x, weight, idx);
  return forward_impl(x, weight, bias, d, make_device_plan(idx, d.modules, x.device()), nullptr);
}

std::tuple<at::Tensor, at::Tensor> multipath_linear_train_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                               const at::Tensor& bias, const at::Tensor& idx) {
  check_multipath_args(x, weight, bias, idx, "multipath_linear_train");
  TORCH_INTERNAL_ASSERT(x.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const Dims d = dims_of(x, weight, idx);
  at::Tensor act;
  at::Tensor y = forward_impl(x, weight, bias, d, make_device_plan(idx, d.modules, x.device()), &act);
  return {y, act};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> multipath_linear_backward_cuda(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& idx, const std::optional<at::Tensor>& act_in, std::array<bool, 3> output_mask) {
  constexpr const char* op = "multipath_linear_backward";
  check_multipath_args(x, weight, bias, idx, op);
  const Dims d = dims_of(x, weight, idx);
  check_multipath_backward_args(grad_y, act_in, x, weight, idx, op);
  const bool have_act = act_in.has_value() && act_in->defined();
  const auto [need_x, need_w, need_b] = output_mask;
  if (!(need_x || need_w || need_b)) {
    return {at::empty({0}, x.options()), at::empty({0}, x.options()), at::empty({0}, x.options())};
  }
  TORCH_INTERNAL_ASSERT(x.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const DevicePlan dp = make_device_plan(idx, d.modules, x.device());
  const ModulePlan& plan = dp.host;
  at::Tensor act;
  if (have_act) {
    act = *act_in;
  } else {
    forward_impl(x, weight, bias, d, dp, &act);  // recompute: the ReLU masks are not in y
  }
  at::Tensor grad_x = need_x ? at::zeros_like(x) : at::empty({0}, x.options());
  at::Tensor grad_w = need_w ? at::zeros_like(weight) : at::empty({0}, x.options());
  at::Tensor grad_b = need_b ? at::zeros_like(bias) : at::empty({0}, x.options());
  if (plan.active() == 0 || d.batch == 0 || d.dout == 0) {
    return {grad_x, grad_w, grad_b};
  }
  const int64_t g_rows = d.shared ? d.batch : dp.host.widest() * d.batch;
  at::Tensor g_buf = at::empty({g_rows, d.dout}, x.options());
  at::Tensor gx_buf = (need_x && !d.shared) ? at::empty({g_rows, d.din}, x.options()) : at::Tensor();
  const at::Tensor x_rows = d.shared ? x : x.view({d.paths, d.batch * d.din});
  at::Tensor gather_buf =
      (need_w && !d.shared) ? at::empty({dp.host.widest(), d.batch * d.din}, x.options()) : at::Tensor();
  const int64_t width = d.batch * d.dout;   // numbers in one pair's block of grad_y
  const int64_t x_width = d.batch * d.din;  // numbers in one pair's block of grad_x
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "emokit_multipath_linear_backward_cuda", [&] {
    const scalar_t* gy = grad_y.const_data_ptr<scalar_t>();
    for (int64_t m = 0; m < d.modules; ++m) {
      const int64_t n = plan.count(m);
      if (n == 0) {
        continue;
      }
      const int64_t first = plan.offsets[m];
      at::Tensor g = g_buf.narrow(0, 0, d.shared ? d.batch : n * d.batch);
      scalar_t* g_ptr = g.data_ptr<scalar_t>();
      if (d.shared) {
        // G = mask * sum over the module's pairs of grad_y[p]: the activation is the same for all.
        gpu::mask_sum_kernel<scalar_t><<<blocks_for(width), kThreads, 0, stream>>>(
            g_ptr, act[m].const_data_ptr<scalar_t>(), gy, dp.path(m), n, width);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        if (need_w) {
          at::Tensor gw = grad_w[m];
          at::mm_out(gw, g.t(), x);
        }
        if (need_x) {
          grad_x.addmm_(g, weight[m]);
        }
      } else {
        // G[j, b] = grad_y[path[j], b] * (act > 0), pair-major like the forward's GEMM output.
        gpu::mask_gather_kernel<scalar_t><<<blocks_for(n * width), kThreads, 0, stream>>>(
            g_ptr, act.narrow(0, first, n).const_data_ptr<scalar_t>(), gy, dp.path(m), n * width, width);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        if (need_w) {
          at::Tensor rows = gather_buf.narrow(0, 0, n);
          at::index_select_out(rows, x_rows, 0, dp.path_index(m));
          at::Tensor gw = grad_w[m];
          at::mm_out(gw, g.t(), rows.view({n * d.batch, d.din}));
        }
        if (need_x && x_width > 0) {
          at::Tensor gx = gx_buf.narrow(0, 0, n * d.batch);
          at::mm_out(gx, g, weight[m]);
          const int64_t runs = dp.runs(m);
          gpu::scatter_add_kernel<scalar_t><<<blocks_for(runs * x_width), kThreads, 0, stream>>>(
              grad_x.data_ptr<scalar_t>(), gx.const_data_ptr<scalar_t>(), x_width, dp.path(m),
              dp.run_start(m), runs, x_width);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      }
      if (need_b) {
        at::Tensor gb = grad_b[m];
        at::sum_out(gb, g, 0);
      }
    }
  });
  return {grad_x, grad_w, grad_b};
}

}  // namespace emokit
