using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Imports one MoE layer of an NVFP4 Hugging Face checkpoint (ModelOpt or compressed-tensors, single file or sharded)
/// into the operator's layout, reading only that layer's expert tensors through memory maps. Formats, names and traps:
/// checkpoint-formats.md; the mapping of the scales onto the operator's arguments: §4 there and the
/// <see cref="ImportReport"/>.
/// </summary>
public static class CheckpointImporter
{
    /// <summary>
    /// Reads layer <paramref name="layer"/>'s routed experts and assembles them as <see cref="B12xOps.FusedMoe"/>
    /// takes them: experts stacked, W1 rows = [up; gate], block scales swizzled (or linear, per
    /// <paramref name="options"/>), and scalars set so that the operator computes the checkpoint's own function:
    /// <list type="bullet">
    /// <item>NVFP4 (weights and activations): input_global_scale [1] = the largest gate/up input scale of the layer
    /// (ModelOpt form, amax/2688); w1_alpha [E] = each expert's gate/up weight global scale (one value per expert:
    /// where gate and up differ, the larger, with the other half's block scales re-expressed); fc2_input_scale [E] =
    /// each expert's down_proj input scale; w2_alpha [E] = fc2_input_scale × down_proj weight global scale.</item>
    /// <item>Weight-only (ModelOpt W4A16_NVFP4, compressed-tensors without input_activations): quant_mode w4a16,
    /// w1_alpha and w2_alpha = the weights' global scales, no activation scales.</item>
    /// </list>
    /// compressed-tensors global scales are converted to ModelOpt form first (their reciprocals).
    /// </summary>
    /// <param name="directory">The checkpoint directory (config.json, hf_quant_config.json or a quantization_config,
    /// model.safetensors or model.safetensors.index.json and its shards).</param>
    /// <param name="layer">The decoder layer, 0-based.</param>
    /// <param name="options">Layout and convention choices; null for <see cref="CheckpointImportOptions.Default"/>.</param>
    /// <returns>The layer and its import report; the caller disposes it.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">No config.json or no safetensors file.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is negative or not below num_hidden_layers.</exception>
    /// <exception cref="NotSupportedException">The checkpoint is not NVFP4 (unquantised, another algorithm, an excluded
    /// module, an unsupported activation); the message names the config entry.</exception>
    /// <exception cref="InvalidDataException">A config key or tensor is missing or malformed, or the layer has no
    /// routed experts; the message names the key or tensor.</exception>
    public static ImportedLayer ImportLayer(string directory, int layer, CheckpointImportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= CheckpointImportOptions.Default;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The checkpoint directory {directory} does not exist.");
        }
        CheckpointModelConfig model = CheckpointModelConfig.Read(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        if (model.NumLayers is int layers && layer >= layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer,
                $"{model.Path} has num_hidden_layers = {layers}; the layer must be in [0, {layers - 1}].");
        }
        CheckpointQuantization quantization = CheckpointQuantization.Read(directory, model)
            ?? throw new NotSupportedException(
                $"{directory} is not quantised (no {CheckpointQuantization.HfQuantConfigFileName} and no quantization_config in " +
                $"{CheckpointModelConfig.FileName}); quantise it first, e.g. with 'b12x quantize'.");

        using CheckpointTensors tensors = CheckpointTensors.Open(directory);
        ExpertNaming naming = ExpertNaming.Detect(tensors.Contains, layer, quantization.WeightSuffix)
            ?? throw NoExperts(directory, layer, tensors, quantization, model);
        return MoeLayerAssembler.Assemble(new LayerSource(directory, layer, model, quantization, tensors, naming), options);
    }

    private static Exception NoExperts(
        string directory, int layer, CheckpointTensors tensors, CheckpointQuantization quantization, CheckpointModelConfig model)
    {
        SortedSet<int> moeLayers = ExpertNaming.MoeLayers(tensors.Names);
        string where = moeLayers.Count == 0
            ? "no layer of the checkpoint has routed experts under a recognised name"
            : $"layers with routed experts: {IndexRanges.Format(moeLayers)}";
        string hint = model.NumLayers is null && moeLayers.Count > 0 && layer > moeLayers.Max ? " (config.json has no num_hidden_layers)" : "";
        return new InvalidDataException(
            $"{directory}: layer {layer} has no routed experts{hint}: no tensor such as " +
            $"'model.layers.{layer}.mlp.experts.0.down_proj{quantization.WeightSuffix}' (naming variants: checkpoint-formats.md §6); {where}.");
    }
}
