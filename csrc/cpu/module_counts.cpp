// CPU kernel of emokit::module_counts (see multipath.h).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "multipath.h"

namespace emokit {

namespace {
// Below this many slots per chunk the thread start-up costs more than the counting.
constexpr int64_t kGrainSize = 1 << 15;
}  // namespace

at::Tensor module_counts_cpu(const at::Tensor& idx, int64_t num_modules) {
  TORCH_INTERNAL_ASSERT(idx.device().is_cpu());
  check_module_index(idx, num_modules, "module_counts");
  const at::Tensor flat = idx.contiguous().view({-1});
  const int64_t n = flat.numel();
  // One private histogram per thread, summed at the end: no atomics in the hot loop.
  at::Tensor partial = at::zeros({at::get_num_threads(), num_modules}, idx.options().dtype(at::kLong));
  int64_t* hist = partial.data_ptr<int64_t>();
  AT_DISPATCH_INDEX_TYPES(flat.scalar_type(), "emokit_module_counts_cpu", [&] {
    const index_t* src = flat.const_data_ptr<index_t>();
    at::parallel_for(0, n, kGrainSize, [&](int64_t begin, int64_t end) {
      int64_t* mine = hist + at::get_thread_num() * num_modules;
      for (int64_t i = begin; i < end; ++i) {
        if (src[i] >= 0) {
          ++mine[src[i]];
        }
      }
    });
  });
  return partial.sum(0);
}

}  // namespace emokit
