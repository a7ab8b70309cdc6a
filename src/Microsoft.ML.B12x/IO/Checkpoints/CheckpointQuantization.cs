using System;
using System.IO;
using System.Text.Json;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// A checkpoint's NVFP4 quantisation config: which format its tensors follow and which modules are quantised how.
/// Chosen as trap T13 of checkpoint-formats.md says: <c>hf_quant_config.json</c> when present (ModelOpt), else the
/// <c>quantization_config</c> of config.json with <c>quant_method</c> "modelopt" (or a ModelOpt 0.31–0.33 block
/// without quant_method) or "compressed-tensors".
/// </summary>
internal abstract class CheckpointQuantization
{
    /// <summary>ModelOpt's quantisation config file.</summary>
    public const string HfQuantConfigFileName = "hf_quant_config.json";

    /// <summary>Suffix of the E4M3 block scales in both formats.</summary>
    public const string BlockScaleSuffix = ".weight_scale";

    /// <summary>NVFP4's block size: 16 elements share one scale (checkpoint-formats.md §1).</summary>
    public const int GroupSize = 16;

    /// <summary>The tensor format.</summary>
    public abstract CheckpointFormat Format { get; }

    /// <summary>Where the config was read from, e.g. "hf_quant_config.json".</summary>
    public required string Source { get; init; }

    /// <summary>The producer and its version, if the config names them.</summary>
    public string? Producer { get; init; }

    /// <summary>One line for reports, e.g. "modelopt NVFP4, group_size 16 (hf_quant_config.json; producer modelopt 0.35.0)".</summary>
    public abstract string Description { get; }

    /// <summary>Suffix of the packed E2M1 codes (U8 [N, K/2]).</summary>
    public abstract string WeightSuffix { get; }

    /// <summary>Suffix of the weight's global scale (F32 [] or [1]).</summary>
    public abstract string WeightGlobalSuffix { get; }

    /// <summary>Suffix of the input's global scale (F32 [] or [1]).</summary>
    public abstract string InputGlobalSuffix { get; }

    /// <summary>
    /// A stored global scale in ModelOpt form (the multiplier amax/2688, §4 of checkpoint-formats.md): ModelOpt
    /// stores it as is, compressed-tensors its reciprocal. Computed in float32 (one rounding).
    /// </summary>
    public abstract float ToMultiplier(float stored);

    /// <summary>
    /// Whether the linear module <paramref name="module"/> is weight-only NVFP4 (true) or weights and activations
    /// (false).
    /// </summary>
    /// <exception cref="NotSupportedException">The module is not NVFP4-quantised (excluded, another algorithm, no
    /// matching config group); the message names the module and the config entry.</exception>
    public abstract bool IsWeightOnly(string module);

    /// <summary>The checkpoint's NVFP4 quantisation config, or null when it has none (an unquantised checkpoint).</summary>
    /// <exception cref="NotSupportedException">A quantisation method other than ModelOpt or compressed-tensors.</exception>
    /// <exception cref="InvalidDataException">A malformed config.</exception>
    public static CheckpointQuantization? Read(string directory, CheckpointModelConfig model)
    {
        string hfQuant = Path.Combine(directory, HfQuantConfigFileName);
        if (File.Exists(hfQuant))
        {
            return ModelOptQuantization.FromHfQuantConfig(CheckpointJson.ReadObject(hfQuant), hfQuant);
        }
        if (model.QuantizationConfig is not JsonElement config)
        {
            return null;
        }
        string source = $"{model.Path} quantization_config";
        string? method = CheckpointJson.String(config, "quant_method", source);
        return method switch
        {
            "modelopt" => ModelOptQuantization.FromConfigJson(config, source),
            null when CheckpointJson.Member(config, "quant_algo") is not null => ModelOptQuantization.FromConfigJson(config, source),
            "compressed-tensors" => CompressedTensorsQuantization.FromConfigJson(config, source),
            _ => throw new NotSupportedException(
                $"{source}: quant_method '{method ?? "(none)"}' is not supported; the importer reads NVFP4 checkpoints of ModelOpt " +
                $"({HfQuantConfigFileName} or quant_method 'modelopt') and compressed-tensors (quant_method 'compressed-tensors', " +
                "format 'nvfp4-pack-quantized')."),
        };
    }
}
