namespace Microsoft.ML.B12x;

/// <summary>Where the weights' global scales come from (FlashInfer's <c>source_format</c>).</summary>
public enum MoeSourceFormat
{
    /// <summary>"modelopt": <c>w1Alpha</c>/<c>w2Alpha</c> multiply the GEMM outputs as given.</summary>
    ModelOpt,

    /// <summary>
    /// "compressed_tensors": the stored alphas are reciprocals (1/S_w); the operator uses fp32(1/alpha).
    /// Valid only with <see cref="MoeQuantMode.W4A16"/>.
    /// </summary>
    CompressedTensors,
}
