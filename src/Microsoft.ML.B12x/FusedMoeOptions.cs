using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// The optional arguments of <see cref="B12xOps.FusedMoe"/>. Every property defaults to FlashInfer's behaviour.
/// </summary>
public sealed record FusedMoeOptions
{
    /// <summary>The defaults.</summary>
    public static FusedMoeOptions Default { get; } = new();

    /// <summary>
    /// FC2-input quantisation scale gs2 (divisor form, like ModelOpt's <c>input_scale</c> of down_proj): float32 [1],
    /// [E] (by global expert id) or [E_loc] (by local id). Required for <see cref="MoeQuantMode.Nvfp4"/>; ignored
    /// for W4A16.
    /// </summary>
    public Tensor? Fc2InputScale { get; init; }

    /// <summary>
    /// FC1-input quantisation scale gs1: float32 [1], [E] or [E_loc]. When given, alpha1 = w1Alpha·gs1, so
    /// <c>w1Alpha</c> can be the weight's own global scale (ModelOpt's <c>weight_scale_2</c>). When absent, gs1 = w1Alpha
    /// and the two cancel (FlashInfer's older convention: the weight's global scale baked into its block scales).
    /// Ignored for W4A16. When every expert has the same value, pass it as [1] (as imported checkpoints carry it):
    /// the dynamic strategy's sm_90a kernels then quantise each token once instead of once per routed pair (same
    /// bits; the other strategies and GPUs quantise per pair either way).
    /// </summary>
    public Tensor? InputGlobalScale { get; init; }

    /// <summary>L, the experts this rank holds (default: all of <c>numExperts</c>).</summary>
    public int? NumLocalExperts { get; init; }

    /// <summary>The first global expert id this rank holds; it owns [offset, offset + L).</summary>
    public int LocalExpertOffset { get; init; }

    /// <summary>Optional output buffer, bfloat16 [T, H], fully overwritten and returned; must not overlap x.</summary>
    public Tensor? Output { get; init; }

    /// <summary>Output dtype; only bfloat16 is supported (as in FlashInfer).</summary>
    public ScalarType OutputDtype { get; init; } = ScalarType.BFloat16;

    /// <summary>The activation between FC1 and FC2.</summary>
    public MoeActivation Activation { get; init; } = MoeActivation.Silu;

    /// <summary>Whether activations are quantised to NVFP4 (W4A4) or stay bf16 (W4A16).</summary>
    public MoeQuantMode QuantMode { get; init; } = MoeQuantMode.Nvfp4;

    /// <summary>The convention of <c>w1Alpha</c>/<c>w2Alpha</c>.</summary>
    public MoeSourceFormat SourceFormat { get; init; } = MoeSourceFormat.ModelOpt;

    /// <summary>The layout of <c>w1WeightSf</c> and <c>w2WeightSf</c>; never guessed from shapes.</summary>
    public ScaleLayout ScaleLayout { get; init; } = ScaleLayout.Swizzled128x4;

    /// <summary>The CUDA kernel strategy; ignored by the CPU backend.</summary>
    public KernelStrategy Strategy { get; init; } = KernelStrategy.Auto;

    /// <summary>Where the work runs when the inputs are on the CPU (CUDA inputs always run on CUDA).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>
    /// Threads the CPU backend may use (null: one per core). Results are bit-identical for any value.
    /// </summary>
    public int? CpuThreads { get; init; }

    /// <summary>
    /// CUDA only, for tests: run FC1 and FC2 with the simple reference kernels (CUDA cores, the CPU backend's
    /// canonical order) instead of the tensor-core strategies.
    /// </summary>
    internal bool UseReferenceKernels { get; init; }

    /// <summary>Auto strategy: micro when T ≤ this and P ≤ <see cref="MicroMaxPairs"/> (FlashInfer: 8).</summary>
    public int MicroMaxTokens { get; init; } = 8;

    /// <summary>Auto strategy: micro when P ≤ this (FlashInfer's micro ladder tops out at 40 routed rows).</summary>
    public int MicroMaxPairs { get; init; } = 40;

    /// <summary>
    /// Auto strategy: static when P ≤ this, dynamic above (FlashInfer's cut-over: 640 routed pairs). On an sm_90a
    /// GPU, NVFP4 layers with swizzled scales run faster static at any P where the narrow kernels take the call (at
    /// most 16 routed pairs per local expert on average; e.g. deepseek-v3 at T = 256 on an H200: 3.4 against 5.3 ms),
    /// and no slower beyond (measured up to T = 1,024), so raising this for such a layer (to 16 × its local experts,
    /// or more) trades dynamic's batch invariance across that bound for speed (docs/kernels.md).
    /// </summary>
    public int StaticMaxPairs { get; init; } = 640;

    /// <summary>
    /// Builds options from FlashInfer's string spellings: <paramref name="activation"/> "silu" | "relu2";
    /// <paramref name="activationPrecision"/> "fp4" | "nvfp4" | "w4a4" | "bf16" | "w4a16" (used when
    /// <paramref name="quantMode"/> is null); <paramref name="quantMode"/> "nvfp4" | "w4a4" | "fp4" | "w4a16" | "bf16";
    /// <paramref name="sourceFormat"/> "modelopt" | "compressed_tensors". Spellings are case-sensitive.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown spelling, or compressed_tensors without W4A16.</exception>
    public static FusedMoeOptions FromFlashInfer(
        string activation = "silu",
        string activationPrecision = "fp4",
        string? quantMode = null,
        string sourceFormat = "modelopt")
    {
        var options = new FusedMoeOptions
        {
            Activation = ModeSpellings.ParseActivation(activation, nameof(activation)),
            QuantMode = quantMode is null
                ? ModeSpellings.ParseActivationPrecision(activationPrecision, nameof(activationPrecision))
                : ModeSpellings.ParseQuantMode(quantMode, nameof(quantMode)),
            SourceFormat = ModeSpellings.ParseSourceFormat(sourceFormat, nameof(sourceFormat)),
        };
        if (options.SourceFormat == MoeSourceFormat.CompressedTensors && options.QuantMode != MoeQuantMode.W4A16)
        {
            throw new ArgumentException(
                $"source_format 'compressed_tensors' requires quant_mode 'w4a16'; got '{quantMode ?? activationPrecision}'.",
                nameof(sourceFormat));
        }
        return options;
    }
}
