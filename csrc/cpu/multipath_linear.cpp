// CPU kernels of emokit::multipath_linear, multipath_linear_train and multipath_linear_backward
// (contract and plan in multipath.h).
//
// The GEMMs are ATen's (MKL/oneDNN sgemm, multi-threaded); what this file adds is the work the
// fallback cannot avoid doing per (path, slot): rows are grouped by module so each module costs one
// GEMM, a shared input is multiplied once per module, and bias, ReLU and the sum over slots run as
// one epilogue pass over the GEMM's output (parallel over the batch rows).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/LegacyTypeDispatch.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "multipath.h"

namespace emokit {

namespace {

// Rows aimed at per GEMM in the tiled forward: enough for sgemm to run near its peak, few enough that
// a tile's input, output and the module's weight stay in a core's cache for the epilogue.
constexpr int64_t kTileRows = 512;

// Bytes of GEMM output a task keeps per module (shared input): all used modules' tiles stay in a
// core's L2 cache until every path has summed them.
constexpr int64_t kSharedTileBytes = 1 << 20;

// The batch rows each forward task owns. Every task runs all modules on its rows [b0, b0 + tile), so
// tasks never write the same memory: no locks, no atomics, a deterministic sum, and each GEMM's output
// is consumed by the epilogue while it is still in cache. Tiles shrink so every thread gets work.
int64_t forward_tile(const Dims& d, const ModulePlan& plan, int64_t element_size) {
  int64_t used = 0;
  for (int64_t m = 0; m < d.modules; ++m) {
    used += plan.count(m) > 0;
  }
  used = std::max<int64_t>(used, 1);
  int64_t tile = 0;
  if (d.shared) {
    tile = std::clamp<int64_t>(kSharedTileBytes / (used * std::max<int64_t>(d.dout, 1) * element_size), 8, kTileRows);
  } else {
    // A per-path GEMM stacks the tile's rows of every pair of the module: ~active/used pairs.
    tile = std::max<int64_t>(1, kTileRows / std::max<int64_t>(1, plan.active() / used));
  }
  const int64_t threads = at::get_num_threads();
  if (threads > 1) {
    tile = std::min(tile, std::max<int64_t>(1, (d.batch + threads - 1) / threads));
  }
  return std::min(tile, d.batch);
}

// One task of the forward: rows [b0, b0 + rows) of y (and of act) for every module of the plan.
// y is not zeroed beforehand: a path's first contribution is stored, the next ones added, and rows of
// paths with no active module are zero-filled last, which saves a pass over y.
template <typename scalar_t>
void forward_tile_task(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const ModulePlan& plan,
                       const int64_t* idx, const Dims& d, int64_t b0, int64_t rows, int64_t widest, scalar_t* y,
                       scalar_t* act) {
  const int64_t block = rows * d.dout;  // one path's rows of y in this tile
  std::vector<char> written(d.paths, 0);
  if (d.shared) {
    // Each used module's output on the tile, once; then every path sums its slots' outputs.
    std::vector<int64_t> slot_of(d.modules, -1);
    int64_t used = 0;
    for (int64_t m = 0; m < d.modules; ++m) {
      if (plan.count(m) > 0) {
        slot_of[m] = used++;
      }
    }
    at::Tensor out_buf = at::empty({used, rows, d.dout}, x.options());
    scalar_t* out = out_buf.data_ptr<scalar_t>();
    const at::Tensor x_tile = x.narrow(0, b0, rows);
    for (int64_t m = 0; m < d.modules; ++m) {
      if (slot_of[m] < 0) {
        continue;
      }
      at::Tensor o = out_buf[slot_of[m]];
      at::mm_out(o, x_tile, weight[m].t());
      scalar_t* tile = out + slot_of[m] * block;
      const scalar_t* bias_m = bias[m].const_data_ptr<scalar_t>();
      for (int64_t b = 0; b < rows; ++b) {
        for (int64_t i = 0; i < d.dout; ++i) {
          tile[b * d.dout + i] = std::max(tile[b * d.dout + i] + bias_m[i], scalar_t(0));
        }
      }
      if (act != nullptr) {
        std::memcpy(act + (m * d.batch + b0) * d.dout, tile, sizeof(scalar_t) * block);
      }
    }
    for (int64_t p = 0; p < d.paths; ++p) {
      scalar_t* dst = y + (p * d.batch + b0) * d.dout;
      for (int64_t k = 0; k < d.slots; ++k) {
        const int64_t m = idx[p * d.slots + k];
        if (m < 0) {
          continue;
        }
        const scalar_t* src = out + slot_of[m] * block;
        if (written[p]) {
          for (int64_t i = 0; i < block; ++i) {
            dst[i] += src[i];
          }
        } else {
          std::memcpy(dst, src, sizeof(scalar_t) * block);
          written[p] = 1;
        }
      }
    }
  } else {
    at::Tensor out_buf = at::empty({widest * rows, d.dout}, x.options());
    at::Tensor in_buf = at::empty({widest * rows, d.din}, x.options());
    scalar_t* out = out_buf.data_ptr<scalar_t>();
    scalar_t* in = in_buf.data_ptr<scalar_t>();
    const scalar_t* x_ptr = x.const_data_ptr<scalar_t>();
    for (int64_t m = 0; m < d.modules; ++m) {
      const int64_t n = plan.count(m);
      if (n == 0) {
        continue;
      }
      const int64_t first = plan.offsets[m];
      const int64_t* path = plan.path.data() + first;
      const scalar_t* bias_m = bias[m].const_data_ptr<scalar_t>();
      // Stack the tile's rows of each pair's path (contiguous blocks): one GEMM for the module.
      for (int64_t j = 0; j < n; ++j) {
        std::memcpy(in + j * rows * d.din, x_ptr + (path[j] * d.batch + b0) * d.din, sizeof(scalar_t) * rows * d.din);
      }
      at::Tensor o = out_buf.narrow(0, 0, n * rows);
      at::mm_out(o, in_buf.narrow(0, 0, n * rows), weight[m].t());
      // Epilogue: bias, ReLU, keep the activation for backward, store or add into the path's rows.
      for (int64_t j = 0; j < n; ++j) {
        scalar_t* dst = y + (path[j] * d.batch + b0) * d.dout;
        scalar_t* keep = act != nullptr ? act + ((first + j) * d.batch + b0) * d.dout : nullptr;
        const scalar_t* src = out + j * block;
        const bool add = written[path[j]];
        written[path[j]] = 1;
        for (int64_t b = 0; b < rows; ++b) {
          for (int64_t i = 0; i < d.dout; ++i) {
            const scalar_t v = std::max(src[b * d.dout + i] + bias_m[i], scalar_t(0));
            dst[b * d.dout + i] = add ? dst[b * d.dout + i] + v : v;
            if (keep != nullptr) {
              keep[b * d.dout + i] = v;
            }
          }
        }
      }
    }
  }
  for (int64_t p = 0; p < d.paths; ++p) {
    if (!written[p]) {
      std::fill_n(y + (p * d.batch + b0) * d.dout, block, scalar_t(0));
    }
  }
}

// The forward of both ops; act is defined only for multipath_linear_train (layouts in multipath.h).
at::Tensor forward_impl(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const Dims& d,
                        const ModulePlan& plan, at::Tensor* act) {
  if (act != nullptr) {
    *act = empty_activations(x, d, plan);
  }
  if (plan.active() == 0 || d.batch == 0 || d.dout == 0) {
    return at::zeros({d.paths, d.batch, d.dout}, x.options());
  }
  at::Tensor y = at::empty({d.paths, d.batch, d.dout}, x.options());  // every row is written below
  const int64_t widest = plan.widest();
  const int64_t tile = forward_tile(d, plan, x.element_size());
  const int64_t tiles = (d.batch + tile - 1) / tile;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "emokit_multipath_linear_cpu", [&] {
    scalar_t* y_ptr = y.data_ptr<scalar_t>();
    scalar_t* act_ptr = act != nullptr ? act->data_ptr<scalar_t>() : nullptr;
    // One tile per task; inside a parallel region ATen's GEMMs run on the calling thread only.
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      // Worker threads do not inherit the caller's "below autograd" state: say it again, or the
      // GEMMs on tensors that require grad would go through autograd (and fail on out=).
      const at::AutoDispatchBelowADInplaceOrView below_autograd;
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b0 = t * tile;
        forward_tile_task<scalar_t>(x, weight, bias, plan, plan.idx.const_data_ptr<int64_t>(), d, b0,
                                    std::min(tile, d.batch - b0), widest, y_ptr, act_ptr);
      }
    });
  });
  return y;
}

// One task of the backward: rows [b0, b0 + rows) of the batch, every module of the plan. Adds the
// rows' share of grad_weight and grad_bias into the thread's own copies (gw [M, Dout, Din], gb
// [M, Dout]; undefined/null when not wanted) and writes the rows of grad_x (null when not wanted).
template <typename scalar_t>
struct BackwardTile {
  const at::Tensor& x;
  const at::Tensor& weight;
  const at::Tensor& grad_y;
  const at::Tensor& act;
  const ModulePlan& plan;
  const Dims& d;
  int64_t widest;
  scalar_t* grad_x;

  void run(int64_t b0, int64_t rows, at::Tensor& gw, scalar_t* gb) const {
    const int64_t gemm_rows = d.shared ? rows : widest * rows;
    at::Tensor g_buf = at::empty({gemm_rows, d.dout}, x.options());
    at::Tensor in_buf = (!d.shared && gw.defined()) ? at::empty({gemm_rows, d.din}, x.options()) : at::Tensor();
    at::Tensor gx_buf = (!d.shared && grad_x != nullptr) ? at::empty({gemm_rows, d.din}, x.options()) : at::Tensor();
    scalar_t* g = g_buf.data_ptr<scalar_t>();
    const scalar_t* gy = grad_y.const_data_ptr<scalar_t>();
    const scalar_t* a = act.const_data_ptr<scalar_t>();
    const scalar_t* x_ptr = x.const_data_ptr<scalar_t>();
    for (int64_t m = 0; m < d.modules; ++m) {
      const int64_t n = plan.count(m);
      if (n == 0) {
        continue;
      }
      const int64_t first = plan.offsets[m];
      const int64_t* path = plan.path.data() + first;
      const int64_t g_rows = d.shared ? rows : n * rows;
      if (d.shared) {
        // G = ReLU mask * the sum of the pairs' grad_y: one activation serves every pair.
        std::fill(g, g + rows * d.dout, scalar_t(0));
        for (int64_t j = 0; j < n; ++j) {
          const scalar_t* src = gy + (path[j] * d.batch + b0) * d.dout;
          for (int64_t i = 0; i < rows * d.dout; ++i) {
            g[i] += src[i];
          }
        }
        const scalar_t* a_m = a + (m * d.batch + b0) * d.dout;
        for (int64_t i = 0; i < rows * d.dout; ++i) {
          g[i] = a_m[i] > scalar_t(0) ? g[i] : scalar_t(0);
        }
      } else {
        // G[j, b] = grad_y[path[j], b] where that pair's activation is positive, else 0.
        for (int64_t j = 0; j < n; ++j) {
          const scalar_t* src = gy + (path[j] * d.batch + b0) * d.dout;
          const scalar_t* a_j = a + ((first + j) * d.batch + b0) * d.dout;
          scalar_t* g_j = g + j * rows * d.dout;
          for (int64_t i = 0; i < rows * d.dout; ++i) {
            g_j[i] = a_j[i] > scalar_t(0) ? src[i] : scalar_t(0);
          }
        }
      }
      const at::Tensor g_m = g_buf.narrow(0, 0, g_rows);
      if (gb != nullptr) {
        scalar_t* gb_m = gb + m * d.dout;
        for (int64_t r = 0; r < g_rows; ++r) {
          for (int64_t o = 0; o < d.dout; ++o) {
            gb_m[o] += g[r * d.dout + o];
          }
        }
      }
      if (d.shared) {
        const at::Tensor x_tile = x.narrow(0, b0, rows);
        if (gw.defined()) {
          gw[m].addmm_(g_m.t(), x_tile);
        }
        if (grad_x != nullptr) {
          at::from_blob(grad_x + b0 * d.din, {rows, d.din}, x.options()).addmm_(g_m, weight[m]);
        }
        continue;
      }
      if (gw.defined()) {
        scalar_t* in = in_buf.data_ptr<scalar_t>();
        for (int64_t j = 0; j < n; ++j) {
          std::memcpy(in + j * rows * d.din, x_ptr + (path[j] * d.batch + b0) * d.din,
                      sizeof(scalar_t) * rows * d.din);
        }
        gw[m].addmm_(g_m.t(), in_buf.narrow(0, 0, g_rows));
      }
      if (grad_x != nullptr) {
        at::Tensor gx = gx_buf.narrow(0, 0, g_rows);
        at::mm_out(gx, g_m, weight[m]);
        const scalar_t* gx_ptr = gx.const_data_ptr<scalar_t>();
        for (int64_t j = 0; j < n; ++j) {  // in order: one path may own two of the module's pairs
          scalar_t* dst = grad_x + (path[j] * d.batch + b0) * d.din;
          const scalar_t* src = gx_ptr + j * rows * d.din;
          for (int64_t i = 0; i < rows * d.din; ++i) {
            dst[i] += src[i];
          }
        }
      }
    }
  }
};

}  // namespace

at::Tensor multipath_linear_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& idx) {
  check_multipath_args(x, weight, bias, idx, "multipath_linear");
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const Dims d = dims_of(x, weight, idx);
  return forward_impl(x, weight, bias, d, make_module_plan(idx, d.modules), nullptr);
}

std::tuple<at::Tensor, at::Tensor> multipath_linear_train_cpu(const at::Tensor& x, const at::Tensor& weight,
                                                              const at::Tensor& bias, const at::Tensor& idx) {
  check_multipath_args(x, weight, bias, idx, "multipath_linear_train");
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const Dims d = dims_of(x, weight, idx);
  at::Tensor act;
  at::Tensor y = forward_impl(x, weight, bias, d, make_module_plan(idx, d.modules), &act);
  return {y, act};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> multipath_linear_backward_cpu(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& idx, const std::optional<at::Tensor>& act_in, std::array<bool, 3> output_mask) {
  constexpr const char* op = "multipath_linear_backward";
  check_multipath_args(x, weight, bias, idx, op);
  check_multipath_backward_args(grad_y, act_in, x, weight, idx, op);
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const Dims d = dims_of(x, weight, idx);
  const auto [need_x, need_w, need_b] = output_mask;
  if (!(need_x || need_w || need_b)) {
    return {at::empty({0}, x.options()), at::empty({0}, x.options()), at::empty({0}, x.options())};
  }
  const ModulePlan plan = make_module_plan(idx, d.modules);
  at::Tensor act;
  if (act_in.has_value() && act_in->defined()) {
    act = *act_in;
  } else {
    forward_impl(x, weight, bias, d, plan, &act);  // recompute: the ReLU masks are not in y
  }
  // An output not asked for is an empty tensor of its own (outputs of an op must not alias).
  const auto empty = [&] { return at::empty({0}, x.options()); };
  at::Tensor grad_x = need_x ? at::zeros_like(x) : empty();
  if (plan.active() == 0 || d.batch == 0 || d.dout == 0) {
    return {grad_x, need_w ? at::zeros_like(weight) : empty(), need_b ? at::zeros_like(bias) : empty()};
  }
  const int64_t widest = plan.widest();
  // Tiled over the batch like the forward: a task owns its rows of grad_x. grad_weight and grad_bias
  // sum over all rows, so each thread accumulates its own copy and the copies are added at the end.
  const int64_t tile = forward_tile(d, plan, x.element_size());
  const int64_t tiles = (d.batch + tile - 1) / tile;
  const int64_t threads = tiles > 1 ? at::get_num_threads() : 1;
  at::Tensor gw_parts = need_w ? at::zeros({threads, d.modules, d.dout, d.din}, x.options()) : at::Tensor();
  at::Tensor gb_parts = need_b ? at::zeros({threads, d.modules, d.dout}, x.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "emokit_multipath_linear_backward_cpu", [&] {
    const BackwardTile<scalar_t> task{x, weight, grad_y, act, plan, d, widest, need_x ? grad_x.data_ptr<scalar_t>() : nullptr};
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      const at::AutoDispatchBelowADInplaceOrView below_autograd;  // see forward_impl
      const int64_t me = tiles > 1 ? at::get_thread_num() : 0;
      at::Tensor gw = need_w ? gw_parts[me] : at::Tensor();
      scalar_t* gb = need_b ? gb_parts[me].data_ptr<scalar_t>() : nullptr;
      for (int64_t t = begin; t < end; ++t) {
        task.run(t * tile, std::min(tile, d.batch - t * tile), gw, gb);
      }
    });
  });
  at::Tensor grad_w = need_w ? gw_parts.sum(0) : empty();
  at::Tensor grad_b = need_b ? gb_parts.sum(0) : empty();
  return {grad_x, grad_w, grad_b};
}

}  // namespace emokit
