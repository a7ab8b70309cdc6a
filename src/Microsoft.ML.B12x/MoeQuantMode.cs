namespace Microsoft.ML.B12x;

/// <summary>How activations are treated (FlashInfer's <c>quant_mode</c> / <c>activation_precision</c>).</summary>
public enum MoeQuantMode
{
    /// <summary>"nvfp4" (also "w4a4", "fp4"): activations are quantised to NVFP4 before FC1 and before FC2.</summary>
    Nvfp4,

    /// <summary>"w4a16" (also "bf16"): activations stay bf16; only weights are FP4.</summary>
    W4A16,
}
