namespace Microsoft.ML.B12x.IO;

/// <summary>
/// What a layer file says about its MoE layer: the modes (from its metadata, FlashInfer's defaults where a key is
/// absent) and the sizes (from its tensors' shapes). Notation as in <see cref="B12xOps.FusedMoe"/>.
/// </summary>
public sealed record MoeLayerConfig
{
    /// <summary>H, the hidden size (a positive multiple of 16).</summary>
    public required int Hidden { get; init; }

    /// <summary>I, the intermediate size of one expert (a positive multiple of 16).</summary>
    public required int Intermediate { get; init; }

    /// <summary>E, the experts of the whole layer (metadata <c>num_experts</c>).</summary>
    public required int NumExperts { get; init; }

    /// <summary>E_loc, the experts held in the file (metadata <c>num_local_experts</c>; the tensors' first dimension).</summary>
    public required int NumLocalExperts { get; init; }

    /// <summary>The global id of the file's first expert (metadata <c>local_expert_offset</c>, default 0).</summary>
    public int LocalExpertOffset { get; init; }

    /// <summary>K, routes per token (metadata <c>top_k</c>); null when the file does not say (the inputs then decide).</summary>
    public int? TopK { get; init; }

    /// <summary>Metadata <c>activation</c>, default silu.</summary>
    public MoeActivation Activation { get; init; } = MoeActivation.Silu;

    /// <summary>Metadata <c>quant_mode</c>, default nvfp4.</summary>
    public MoeQuantMode QuantMode { get; init; } = MoeQuantMode.Nvfp4;

    /// <summary>Metadata <c>source_format</c>, default modelopt.</summary>
    public MoeSourceFormat SourceFormat { get; init; } = MoeSourceFormat.ModelOpt;

    /// <summary>Metadata <c>scale_layout</c>: required in every layer file, never guessed from shapes.</summary>
    public required ScaleLayout ScaleLayout { get; init; }

    /// <summary>Rows of W1: 2I for the gated activation silu ([up; gate]), I for relu2.</summary>
    public int W1Rows => Activation == MoeActivation.Silu ? 2 * Intermediate : Intermediate;
}
