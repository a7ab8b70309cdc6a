namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>How an NVFP4 checkpoint stores its tensors and global scales (checkpoint-formats.md §2, §3).</summary>
public enum CheckpointFormat
{
    /// <summary>
    /// NVIDIA ModelOpt: <c>weight</c> (U8 [N, K/2]), <c>weight_scale</c> (F8_E4M3 [N, K/16]), <c>weight_scale_2</c>
    /// and <c>input_scale</c> (F32, amax/2688: the global scales as multipliers).
    /// </summary>
    ModelOpt,

    /// <summary>
    /// compressed-tensors <c>nvfp4-pack-quantized</c> (llm-compressor): <c>weight_packed</c>, <c>weight_scale</c>,
    /// <c>weight_global_scale</c> and <c>input_global_scale</c> (F32, 2688/amax: the reciprocals of ModelOpt's).
    /// </summary>
    CompressedTensors,
}
