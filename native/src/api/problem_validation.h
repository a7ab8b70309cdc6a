// Host-side validation of a b12x_moe_problem_t: every size, enum, pointer and alignment the kernels rely on.
#pragma once
#include <cstddef>
#include "b12x/b12x.h"

namespace b12x {

b12x_status_t validate_problem(const b12x_moe_problem_t* problem, char* message, size_t message_capacity);

}  // namespace b12x
