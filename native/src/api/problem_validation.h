// Host-side validation of a b12x_moe_problem_t: every size, enum, pointer and alignment the kernels rely on.
#pragma once
#include <cstddef>
#include "b12x/b12x.h"

namespace b12x {

// Sizes, enums and pointers: everything a run relies on.
b12x_status_t validate_problem(const b12x_moe_problem_t* problem, char* message, size_t message_capacity);

// Sizes and enums only (planning reads no pointer).
b12x_status_t validate_problem_shape(const b12x_moe_problem_t* problem, char* message, size_t message_capacity);

}  // namespace b12x
