// What the CPU and CUDA kernels share: argument checks (the fallback, emokit/kernels/fallback.py,
// raises the same exception types with the same messages), the module plan and the sizes.
#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "multipath.h"

namespace emokit {

void check_module_index(const at::Tensor& idx, int64_t num_modules, const char* op) {
  TORCH_CHECK_VALUE(num_modules > 0, "emokit.", op, ": num_modules must be positive, got ", num_modules);
  TORCH_CHECK_TYPE(idx.scalar_type() == at::kLong || idx.scalar_type() == at::kInt, "emokit.", op,
                   ": idx must be an int32 or int64 tensor, got torch.",
                   c10::getDtypeNames(idx.scalar_type()).first);
  TORCH_CHECK_VALUE(idx.dim() == 2, "emokit.", op, ": idx must have shape [P, K] (paths, slots), got ",
                    idx.sizes());
  if (idx.numel() == 0) {
    return;
  }
  const auto [lo, hi] = at::aminmax(idx);
  const int64_t lo_v = lo.item<int64_t>();
  const int64_t hi_v = hi.item<int64_t>();
  TORCH_CHECK_VALUE(lo_v >= -1 && hi_v < num_modules, "emokit.", op, ": idx holds module indices in [",
                    lo_v, ", ", hi_v, "] but they must lie in [-1, ", num_modules,
                    ") (-1 = empty slot, num_modules = ", num_modules, ")");
}

}  // namespace emokit

namespace emokit {

namespace {

std::string dtype_name(at::ScalarType t) { return "torch." + std::string(c10::getDtypeNames(t).first); }

void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& x, const char* op) {
  TORCH_CHECK_VALUE(t.device() == x.device(), "emokit.", op, ": ", name, " is on ", t.device(),
                    " but x is on ", x.device(), "; every argument must be on one device");
}

void check_contiguous(const at::Tensor& t, const char* name, const char* op) {
  TORCH_CHECK_VALUE(t.is_contiguous(), "emokit.", op, ": ", name, " must be contiguous (strides ",
                    t.strides(), " for shape ", t.sizes(), "); call .contiguous() on it first");
}

}  // namespace

void check_multipath_args(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                          const at::Tensor& idx, const char* op) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble, "emokit.", op,
                   ": x must be a float32 or float64 tensor, got ", dtype_name(dtype));
  TORCH_CHECK_TYPE(weight.scalar_type() == dtype, "emokit.", op, ": weight must have x's dtype ",
                   dtype_name(dtype), ", got ", dtype_name(weight.scalar_type()));
  TORCH_CHECK_TYPE(bias.scalar_type() == dtype, "emokit.", op, ": bias must have x's dtype ", dtype_name(dtype),
                   ", got ", dtype_name(bias.scalar_type()));
  TORCH_CHECK_TYPE(idx.scalar_type() == at::kLong || idx.scalar_type() == at::kInt, "emokit.", op,
                   ": idx must be an int32 or int64 tensor, got ", dtype_name(idx.scalar_type()));
  TORCH_CHECK_VALUE(x.dim() == 2 || x.dim() == 3, "emokit.", op,
                    ": x must have shape [P, B, Din] or [B, Din] (shared by every path), got ", x.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 3, "emokit.", op, ": weight must have shape [M, Dout, Din], got ",
                    weight.sizes());
  TORCH_CHECK_VALUE(bias.dim() == 2, "emokit.", op, ": bias must have shape [M, Dout], got ", bias.sizes());
  TORCH_CHECK_VALUE(idx.dim() == 2, "emokit.", op, ": idx must have shape [P, K] (paths, slots), got ",
                    idx.sizes());
  const int64_t din = x.size(-1);
  const int64_t m = weight.size(0);
  const int64_t dout = weight.size(1);
  TORCH_CHECK_VALUE(weight.size(2) == din, "emokit.", op, ": weight has shape ", weight.sizes(),
                    " but x's last dimension is Din = ", din, "; weight must be [M, Dout, ", din, "]");
  TORCH_CHECK_VALUE(bias.size(0) == m && bias.size(1) == dout, "emokit.", op, ": bias has shape ",
                    bias.sizes(), " but weight is ", weight.sizes(), "; bias must be [", m, ", ", dout, "]");
  TORCH_CHECK_VALUE(x.dim() == 2 || x.size(0) == idx.size(0), "emokit.", op, ": x has ", x.size(0),
                    " paths (shape ", x.sizes(), ") but idx has ", idx.size(0), " (shape ", idx.sizes(),
                    "); pass x as [B, Din] to share it");
  TORCH_CHECK_VALUE(m > 0, "emokit.", op, ": weight must hold at least one module, got shape ", weight.sizes());
  check_same_device(weight, "weight", x, op);
  check_same_device(bias, "bias", x, op);
  check_same_device(idx, "idx", x, op);
  check_contiguous(x, "x", op);
  check_contiguous(weight, "weight", op);
  check_contiguous(bias, "bias", op);
  check_contiguous(idx, "idx", op);
  check_module_index(idx, m, op);
}

void check_multipath_backward_args(const at::Tensor& grad_y, const std::optional<at::Tensor>& act,
                                   const at::Tensor& x, const at::Tensor& weight, const at::Tensor& idx,
                                   const char* op) {
  const bool shared = x.dim() == 2;
  const int64_t paths = idx.size(0), batch = x.size(-2), dout = weight.size(1);
  TORCH_CHECK_TYPE(grad_y.scalar_type() == x.scalar_type(), "emokit.", op, ": grad_y must have x's dtype ",
                   dtype_name(x.scalar_type()), ", got ", dtype_name(grad_y.scalar_type()));
  TORCH_CHECK_VALUE(grad_y.sizes() == at::IntArrayRef({paths, batch, dout}) && grad_y.is_contiguous(), "emokit.",
                    op, ": grad_y must be a contiguous [", paths, ", ", batch, ", ", dout, "] tensor, got shape ",
                    grad_y.sizes());
  // The dispatcher picks the CUDA kernel when any argument is on a GPU: a host pointer must not
  // reach a device kernel, nor the other way round.
  check_same_device(grad_y, "grad_y", x, op);
  if (act.has_value() && act->defined()) {
    const int64_t rows = shared ? weight.size(0) : paths * idx.size(1);
    TORCH_CHECK_VALUE(act->sizes() == at::IntArrayRef({rows, batch, dout}) && act->is_contiguous() &&
                          act->scalar_type() == x.scalar_type(),
                      "emokit.", op, ": act must be the contiguous [", rows, ", ", batch, ", ", dout,
                      "] activations of multipath_linear_train, got shape ", act->sizes());
    check_same_device(*act, "act", x, op);
  }
}

ModulePlan make_module_plan(const at::Tensor& idx, int64_t num_modules) {
  ModulePlan plan;
  plan.idx = idx.to(at::kCPU, at::kLong).contiguous();
  const int64_t* flat = plan.idx.const_data_ptr<int64_t>();
  const int64_t n = plan.idx.numel();
  const int64_t k = plan.idx.dim() == 2 ? plan.idx.size(1) : 1;
  plan.num_modules = num_modules;
  plan.offsets.assign(num_modules + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    if (flat[i] >= 0) {
      ++plan.offsets[flat[i] + 1];
    }
  }
  for (int64_t m = 0; m < num_modules; ++m) {
    plan.offsets[m + 1] += plan.offsets[m];
  }
  plan.path.resize(plan.offsets[num_modules]);
  plan.slot.resize(plan.offsets[num_modules]);
  std::vector<int64_t> next(plan.offsets.begin(), plan.offsets.end() - 1);
  for (int64_t i = 0; i < n; ++i) {  // in flat order, so each module's pairs stay in (p, k) order
    if (flat[i] >= 0) {
      const int64_t at = next[flat[i]]++;
      plan.path[at] = i / k;
      plan.slot[at] = i % k;
    }
  }
  return plan;
}

int64_t ModulePlan::widest() const {
  int64_t most = 0;
  for (int64_t m = 0; m < num_modules; ++m) {
    most = std::max(most, count(m));
  }
  return most;
}

Dims dims_of(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& idx) {
  const bool shared = x.dim() == 2;
  return Dims{shared,          idx.size(0),    shared ? x.size(0) : x.size(1), x.size(-1),
              weight.size(1), weight.size(0), idx.size(1)};
}

at::Tensor empty_activations(const at::Tensor& x, const Dims& d, const ModulePlan& plan) {
  at::Tensor act = at::empty({d.shared ? d.modules : d.paths * d.slots, d.batch, d.dout}, x.options());
  if (d.shared) {
    for (int64_t m = 0; m < d.modules; ++m) {
      if (plan.count(m) == 0) {
        act[m].zero_();
      }
    }
  } else {
    act.narrow(0, plan.active(), act.size(0) - plan.active()).zero_();
  }
  return act;
}

}  // namespace emokit
