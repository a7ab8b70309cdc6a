// Step 3 of the contract, fp32 with every operation explicitly rounded (no contraction, no fast math):
//   silu: a = fp32(fp32(G * sigmoid(G)) * U), sigmoid(z) = fp32(1 / fp32(1 + exp(-z)))  (expf: <= 2 ulp)
//   relu2: a = fp32(max(G, 0)^2)
// NaN propagates as in the C# backend (MathF.Max keeps NaN).
#pragma once

namespace b12x {

__device__ __forceinline__ float silu_gated(float gate, float up) {
  const float sigmoid = __frcp_rn(__fadd_rn(1.0f, expf(-gate)));
  return __fmul_rn(__fmul_rn(gate, sigmoid), up);
}

__device__ __forceinline__ float relu_squared(float g) {
  const float r = (g > 0.0f || g != g) ? g : 0.0f;
  return __fmul_rn(r, r);
}

}  // namespace b12x
