#include "occupancy.h"

#include <mutex>

namespace b12x {
namespace {

// Each launcher asks for two kernels per variant; 64 entries hold every kernel of the library on a few devices. A full
// cache still answers, by asking the runtime.
constexpr int kCachedEntries = 64;

struct Entry {
  const void* kernel;
  int threads;
  size_t shared_bytes;
  int device;
  int per_sm;
};

}  // namespace

cudaError_t resident_ctas_per_sm(const void* kernel, int threads, size_t shared_bytes, int* per_sm) {
  static std::mutex lock;
  static Entry entries[kCachedEntries];
  static int used = 0;
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return e;
  {
    const std::lock_guard<std::mutex> guard(lock);
    for (int i = 0; i < used; ++i) {
      const Entry& c = entries[i];
      if (c.kernel == kernel && c.threads == threads && c.shared_bytes == shared_bytes && c.device == device) {
        *per_sm = c.per_sm;
        return cudaSuccess;
      }
    }
  }
  e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(per_sm, kernel, threads, shared_bytes);
  if (e != cudaSuccess) return e;
  const std::lock_guard<std::mutex> guard(lock);
  if (used < kCachedEntries) entries[used++] = Entry{kernel, threads, shared_bytes, device, *per_sm};
  return cudaSuccess;
}

}  // namespace b12x
