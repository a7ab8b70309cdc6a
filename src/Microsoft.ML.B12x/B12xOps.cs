using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.B12x.Backends;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// The functional entry point: FlashInfer's <c>b12x_fused_moe</c> on TorchSharp tensors.
/// </summary>
public static class B12xOps
{
    /// <summary>
    /// Where the library reports decisions worth knowing (a CUDA call served by the CPU instead, and why).
    /// Defaults to a logger that drops everything.
    /// </summary>
    public static ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>
    /// Runs one Mixture-of-Experts layer with NVFP4 expert weights: for each token t and route k with a valid expert
    /// e = tokenSelectedExperts[t, k], out[t] += tokenFinalScales[t, k] · FC2_e(act(FC1_e(x[t]))), summed in fp32 in
    /// ascending k and rounded to bfloat16 once. Numerics follow the contract in docs/semantics.md exactly.
    /// Notation: T tokens, H hidden, I intermediate, E experts, E_loc local experts, K = topK; for a weight matrix,
    /// N rows (output features) and C reduction length.
    /// </summary>
    /// <param name="x">Hidden states: bfloat16 [T, H], contiguous. H a multiple of 16.</param>
    /// <param name="w1Weight">
    /// FC1 weights: uint8 [E_loc, 2I, H/2] for silu (rows [0, I) = up, [I, 2I) = gate, concatenated) or
    /// [E_loc, I, H/2] for relu2; two E2M1 codes per byte, element 2j in the low nibble. I a multiple of 16.
    /// </param>
    /// <param name="w1WeightSf">
    /// FC1 block scales, E4M3 bytes (uint8 or float8_e4m3fn), one per 16 elements along H. With
    /// <see cref="ScaleLayout.Swizzled128x4"/> (default): contiguous storage of E_loc·Np·Cbp bytes in any shape, or
    /// FlashInfer's 6-D view (32, 4, Np/128, 4, Cbp/4, E_loc) with any strides. With <see cref="ScaleLayout.Linear"/>:
    /// [E_loc, N, H/16], contiguous. (Np = 128·⌈N/128⌉, Cbp = 4·⌈(C/16)/4⌉.)
    /// </param>
    /// <param name="w2Weight">FC2 weights: uint8 [E_loc, H, I/2], packed as <paramref name="w1Weight"/>.</param>
    /// <param name="w2WeightSf">FC2 block scales, as <paramref name="w1WeightSf"/> with N = H and C = I.</param>
    /// <param name="tokenSelectedExperts">
    /// Global expert ids: int32 or int64 [T, K]. Ids outside [LocalExpertOffset, LocalExpertOffset + E_loc) (negative,
    /// ≥ E, or on another rank) contribute nothing; int64 ids are range-checked, never truncated.
    /// </param>
    /// <param name="tokenFinalScales">Routing weights: float32 [T, K], used as given (no renormalisation).</param>
    /// <param name="numExperts">E, the experts of the whole layer.</param>
    /// <param name="topK">K; must equal tokenSelectedExperts.shape[1].</param>
    /// <param name="w1Alpha">
    /// FC1 output scale: float32 [1], [E] (by global id) or [E_loc] (by local id); finite and &gt; 0 when on the host.
    /// See <see cref="FusedMoeOptions.InputGlobalScale"/> for how it pairs with the activation scale.
    /// </param>
    /// <param name="w2Alpha">FC2 output scale, shaped as <paramref name="w1Alpha"/>; in NVFP4 mode it already holds
    /// fc2InputScale × the weight's global scale.</param>
    /// <param name="options">Everything optional; null means <see cref="FusedMoeOptions.Default"/>.</param>
    /// <returns>The output, bfloat16 [T, H] on x's device (or <see cref="FusedMoeOptions.Output"/> when given).</returns>
    /// <exception cref="System.ArgumentException">A tensor or option violates the contract; the message names it.</exception>
    /// <exception cref="System.NotSupportedException">A valid request the chosen backend cannot serve.</exception>
    /// <exception cref="B12xNativeException">The CUDA library failed.</exception>
    public static Tensor FusedMoe(
        Tensor x,
        Tensor w1Weight,
        Tensor w1WeightSf,
        Tensor w2Weight,
        Tensor w2WeightSf,
        Tensor tokenSelectedExperts,
        Tensor tokenFinalScales,
        int numExperts,
        int topK,
        Tensor w1Alpha,
        Tensor w2Alpha,
        FusedMoeOptions? options = null)
    {
        using MoeProblem problem = MoeProblem.Create(
            x, w1Weight, w1WeightSf, w2Weight, w2WeightSf, tokenSelectedExperts, tokenFinalScales, numExperts, topK,
            w1Alpha, w2Alpha, options);
        return BackendSelector.Run(problem);
    }
}
