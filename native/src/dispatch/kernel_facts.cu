#include "kernel_facts.h"

#include <mutex>

namespace b12x {
namespace {

// A few facts per kernel variant; 128 entries hold every kernel of the library on a few devices. A full cache still
// answers, by asking the runtime.
constexpr int kCachedEntries = 128;

enum class Fact { kResidentCtas, kStaticShared, kDynamicAllowed };

struct Key {
  const void* kernel;
  int device;
  Fact fact;
  int threads;          // kResidentCtas only
  size_t shared_bytes;  // kResidentCtas only

  bool operator==(const Key& o) const {
    return kernel == o.kernel && device == o.device && fact == o.fact && threads == o.threads &&
           shared_bytes == o.shared_bytes;
  }
};

struct Entry {
  Key key;
  size_t value;
};

std::mutex g_lock;
Entry g_entries[kCachedEntries];
int g_used = 0;

// The cached value of `key`, or nullptr; call with g_lock held.
size_t* find(const Key& key) {
  for (int i = 0; i < g_used; ++i) {
    if (g_entries[i].key == key) return &g_entries[i].value;
  }
  return nullptr;
}

// Stores `value` for `key` (replacing an earlier one); call with g_lock held.
void store(const Key& key, size_t value) {
  if (size_t* cached = find(key)) {
    *cached = value;
  } else if (g_used < kCachedEntries) {
    g_entries[g_used++] = Entry{key, value};
  }
}

// The fact `key` (on the current device) from the cache, or from `ask` the first time.
template <typename Ask>
cudaError_t cached(const void* kernel, Fact fact, int threads, size_t shared_bytes, size_t* value, Ask ask) {
  Key key{kernel, 0, fact, threads, shared_bytes};
  cudaError_t e = cudaGetDevice(&key.device);
  if (e != cudaSuccess) return e;
  {
    const std::lock_guard<std::mutex> guard(g_lock);
    if (const size_t* known = find(key)) {
      *value = *known;
      return cudaSuccess;
    }
  }
  if ((e = ask(value)) != cudaSuccess) return e;
  const std::lock_guard<std::mutex> guard(g_lock);
  store(key, *value);
  return cudaSuccess;
}

}  // namespace

cudaError_t resident_ctas_per_sm(const void* kernel, int threads, size_t shared_bytes, int* per_sm) {
  size_t value = 0;
  const cudaError_t e = cached(kernel, Fact::kResidentCtas, threads, shared_bytes, &value, [&](size_t* v) {
    int blocks = 0;
    const cudaError_t r = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, shared_bytes);
    *v = static_cast<size_t>(blocks);
    return r;
  });
  *per_sm = static_cast<int>(value);
  return e;
}

cudaError_t static_shared_bytes(const void* kernel, size_t* bytes) {
  return cached(kernel, Fact::kStaticShared, 0, 0, bytes, [&](size_t* v) {
    cudaFuncAttributes attributes{};
    const cudaError_t r = cudaFuncGetAttributes(&attributes, kernel);
    *v = attributes.sharedSizeBytes;
    return r;
  });
}

cudaError_t allow_dynamic_shared(const void* kernel, size_t bytes) {
  Key key{kernel, 0, Fact::kDynamicAllowed, 0, 0};
  cudaError_t e = cudaGetDevice(&key.device);
  if (e != cudaSuccess) return e;
  // Under the lock throughout: two threads setting different sizes must leave the attribute at the size cached.
  const std::lock_guard<std::mutex> guard(g_lock);
  const size_t* allowed = find(key);
  if (allowed != nullptr && *allowed >= bytes) return cudaSuccess;
  e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e == cudaSuccess) store(key, bytes);
  return e;
}

}  // namespace b12x
