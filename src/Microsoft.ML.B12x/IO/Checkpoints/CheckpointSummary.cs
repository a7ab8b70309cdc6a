using System.Collections.Generic;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>What a checkpoint directory holds, as far as its MoE layers go (see <see cref="CheckpointInspector"/>).</summary>
public sealed record CheckpointSummary
{
    /// <summary>config.json's <c>model_type</c>, if given.</summary>
    public string? ModelType { get; init; }

    /// <summary><c>num_hidden_layers</c>, if given.</summary>
    public int? NumLayers { get; init; }

    /// <summary>H.</summary>
    public required int Hidden { get; init; }

    /// <summary>I of one expert.</summary>
    public required int Intermediate { get; init; }

    /// <summary>Routed experts per MoE layer.</summary>
    public required int NumExperts { get; init; }

    /// <summary><c>num_experts_per_tok</c>, if given.</summary>
    public int? TopK { get; init; }

    /// <summary>The activation named in config.json, if any.</summary>
    public string? Activation { get; init; }

    /// <summary>The layers that have routed experts, ascending.</summary>
    public required IReadOnlyList<int> MoeLayers { get; init; }

    /// <summary>The expert naming of the first MoE layer, e.g. "model.layers.{layer}.mlp.experts.{e}.{gate_proj,up_proj,down_proj}"; null without MoE layers.</summary>
    public string? ExpertNaming { get; init; }

    /// <summary>The quantisation in one line, or null for an unquantised checkpoint.</summary>
    public string? Quantization { get; init; }

    /// <summary>The safetensors files.</summary>
    public required int Files { get; init; }

    /// <summary>The tensors over all files.</summary>
    public required int Tensors { get; init; }
}
