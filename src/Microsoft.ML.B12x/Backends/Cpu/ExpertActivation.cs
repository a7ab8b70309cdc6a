using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Step 3 of semantics.md for one output feature, in float32 with every operation rounded (the result is rounded
/// to bfloat16 by the caller). The exponential is <see cref="MathF.Exp"/>, which the test oracle uses too.
/// </summary>
internal static class ExpertActivation
{
    /// <summary>
    /// silu (gated): G = fp32(alpha1·gate), U = fp32(alpha1·up), a = fp32(fp32(G·σ(G))·U) with
    /// σ(z) = fp32(1 / fp32(1 + exp(−z))).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Silu(float up, float gate, float alpha1)
    {
        float g = alpha1 * gate;
        float u = alpha1 * up;
        float denominator = 1f + MathF.Exp(-g);
        float sigmoid = 1f / denominator;
        float gated = g * sigmoid;
        return gated * u;
    }

    /// <summary>relu2: G = fp32(alpha1·acc), a = fp32(max(G, 0)²); NaN propagates.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Relu2(float acc, float alpha1)
    {
        float g = alpha1 * acc;
        float r = MathF.Max(g, 0f);
        return r * r;
    }
}
