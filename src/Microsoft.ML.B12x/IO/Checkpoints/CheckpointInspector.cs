using System.IO;
using System.Linq;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>Describes a Hugging Face MoE checkpoint directory from its configs and tensor names (no tensor data is read).</summary>
public static class CheckpointInspector
{
    /// <summary>The summary of <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">No config.json or no safetensors file.</exception>
    /// <exception cref="InvalidDataException">config.json lacks the MoE keys, or a file is malformed.</exception>
    /// <exception cref="System.NotSupportedException">The quantisation config is of an unsupported kind.</exception>
    public static CheckpointSummary Describe(string directory)
    {
        CheckpointModelConfig model = CheckpointModelConfig.Read(directory);
        CheckpointQuantization? quantization = CheckpointQuantization.Read(directory, model);
        using CheckpointTensors tensors = CheckpointTensors.Open(directory);
        int[] layers = [.. ExpertNaming.MoeLayers(tensors.Names)];
        ExpertNaming? naming = layers.Length == 0 ? null : ExpertNaming.Detect(tensors.Contains, layers[0], quantization?.WeightSuffix ?? ".weight");
        return new CheckpointSummary
        {
            ModelType = model.ModelType,
            NumLayers = model.NumLayers,
            Hidden = model.Hidden,
            Intermediate = model.Intermediate,
            NumExperts = model.NumExperts,
            TopK = model.TopK,
            Activation = model.Activation,
            MoeLayers = layers,
            ExpertNaming = naming?.Pattern,
            Quantization = quantization?.Description,
            Files = tensors.Files.Count,
            Tensors = tensors.Names.Count(),
        };
    }
}
