// Host-side pointer alignment test, shared by the argument validation and the kernel choice.
#pragma once
#include <cstdint>

namespace b12x {

inline bool aligned(const void* p, uintptr_t alignment) { return (reinterpret_cast<uintptr_t>(p) % alignment) == 0; }

}  // namespace b12x
