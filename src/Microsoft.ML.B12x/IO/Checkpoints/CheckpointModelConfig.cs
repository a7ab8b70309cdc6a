using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// What config.json says about a checkpoint's MoE layers (key names per family in checkpoint-formats.md §6). Models
/// that nest their language model's settings (Llama-4: <c>text_config</c>) are read from that section.
/// </summary>
internal sealed record CheckpointModelConfig
{
    /// <summary>The file name inside a checkpoint directory.</summary>
    public const string FileName = "config.json";

    /// <summary>Keys for the number of routed experts (Qwen3-MoE, Mixtral, DeepSeek / Nemotron-H).</summary>
    public static readonly string[] ExpertKeys = ["num_experts", "num_local_experts", "n_routed_experts"];

    /// <summary>Keys for one expert's intermediate size, in order of preference (MoE-specific key first).</summary>
    public static readonly string[] IntermediateKeys = ["moe_intermediate_size", "intermediate_size"];

    /// <summary>Keys for the expert activation, in order of preference (Nemotron-H: mlp_hidden_act).</summary>
    public static readonly string[] ActivationKeys = ["mlp_hidden_act", "hidden_act"];

    /// <summary>The config file read.</summary>
    public required string Path { get; init; }

    /// <summary><c>model_type</c>, if given.</summary>
    public string? ModelType { get; init; }

    /// <summary>H, from <c>hidden_size</c>.</summary>
    public required int Hidden { get; init; }

    /// <summary>I of one expert.</summary>
    public required int Intermediate { get; init; }

    /// <summary>The key <see cref="Intermediate"/> came from.</summary>
    public required string IntermediateKey { get; init; }

    /// <summary>E, the routed experts per MoE layer.</summary>
    public required int NumExperts { get; init; }

    /// <summary>The key <see cref="NumExperts"/> came from.</summary>
    public required string ExpertsKey { get; init; }

    /// <summary>K, from <c>num_experts_per_tok</c>; null when absent.</summary>
    public int? TopK { get; init; }

    /// <summary>The activation's name as written (e.g. "silu", "relu2"); null when absent.</summary>
    public string? Activation { get; init; }

    /// <summary>The key <see cref="Activation"/> came from.</summary>
    public string? ActivationKey { get; init; }

    /// <summary>The number of decoder layers, from <c>num_hidden_layers</c>; null when absent.</summary>
    public int? NumLayers { get; init; }

    /// <summary>The <c>quantization_config</c> object of the file, if any.</summary>
    public JsonElement? QuantizationConfig { get; init; }

    /// <summary>Reads <c>config.json</c> of <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">The directory has no config.json.</exception>
    /// <exception cref="InvalidDataException">A required key is missing or malformed; the message names it.</exception>
    public static CheckpointModelConfig Read(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{directory} is not a Hugging Face checkpoint directory: it has no {FileName}.", path);
        }
        JsonElement root = CheckpointJson.ReadObject(path);
        // Multimodal configs keep the language model's settings in text_config (checkpoint-formats.md §6, Llama-4).
        JsonElement section = CheckpointJson.Member(root, "hidden_size") is null && CheckpointJson.Object(root, "text_config", path) is JsonElement text
            ? text
            : root;

        int hidden = CheckpointJson.Integer(section, "hidden_size", path)
            ?? throw Missing(path, "'hidden_size' (H, the hidden size)");
        (string intermediateKey, int intermediate) = First(section, IntermediateKeys, path)
            ?? throw Missing(path, $"the expert intermediate size ({Either(IntermediateKeys)})");
        (string expertsKey, int experts) = Experts(section, path)
            ?? throw Missing(path, $"the number of routed experts ({Either(ExpertKeys)}); is this a Mixture-of-Experts model?");
        string? activationKey = ActivationKeys.FirstOrDefault(k => CheckpointJson.String(section, k, path) is not null);
        return new CheckpointModelConfig
        {
            Path = path,
            ModelType = CheckpointJson.String(root, "model_type", path),
            Hidden = hidden,
            Intermediate = intermediate,
            IntermediateKey = intermediateKey,
            NumExperts = experts,
            ExpertsKey = expertsKey,
            TopK = CheckpointJson.Integer(section, "num_experts_per_tok", path),
            Activation = activationKey is null ? null : CheckpointJson.String(section, activationKey, path),
            ActivationKey = activationKey,
            NumLayers = CheckpointJson.Integer(section, "num_hidden_layers", path),
            QuantizationConfig = CheckpointJson.Object(root, "quantization_config", path),
        };
    }

    /// <summary>The expert count; every expert key present must give the same number.</summary>
    private static (string Key, int Value)? Experts(JsonElement section, string path)
    {
        (string Key, int Value)? found = null;
        foreach (string key in ExpertKeys)
        {
            if (CheckpointJson.Integer(section, key, path) is int value)
            {
                if (found is { } first && first.Value != value)
                {
                    throw new InvalidDataException($"{path}: '{first.Key}' = {first.Value} and '{key}' = {value} disagree on the number of routed experts.");
                }
                found ??= (key, value);
            }
        }
        return found;
    }

    private static (string Key, int Value)? First(JsonElement section, string[] keys, string path)
    {
        foreach (string key in keys)
        {
            if (CheckpointJson.Integer(section, key, path) is int value)
            {
                return (key, value);
            }
        }
        return null;
    }

    private static string Either(string[] keys) => string.Join(" or ", keys.Select(k => $"'{k}'"));

    private static InvalidDataException Missing(string path, string what) => new($"{path}: {what} is missing.");
}
