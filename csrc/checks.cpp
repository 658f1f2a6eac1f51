// Argument checks shared by the CPU and CUDA kernels; the fallback (emokit/kernels/fallback.py)
// raises the same exception types with the same messages.
#include <ATen/ATen.h>

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
