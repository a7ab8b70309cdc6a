using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// A ModelOpt quantisation config (checkpoint-formats.md §2.1): nested <c>hf_quant_config.json</c>
/// (<c>quantization.quant_algo</c>, <c>exclude_modules</c>, <c>quantized_layers</c>) or the flat
/// <c>quantization_config</c> block of config.json (<c>quant_algo</c>, <c>ignore</c>). Algorithms read: NVFP4 and
/// W4A16_NVFP4, each alone or per module under MIXED_PRECISION.
/// </summary>
internal sealed class ModelOptQuantization : CheckpointQuantization
{
    private const string Nvfp4 = "NVFP4";
    private const string WeightOnlyNvfp4 = "W4A16_NVFP4";
    private const string MixedPrecision = "MIXED_PRECISION";

    private readonly string _algorithm;
    private readonly ModuleNamePattern[] _excluded;
    private readonly Dictionary<string, string>? _perModule;

    private ModelOptQuantization(string algorithm, ModuleNamePattern[] excluded, Dictionary<string, string>? perModule)
    {
        _algorithm = algorithm;
        _excluded = excluded;
        _perModule = perModule;
    }

    /// <inheritdoc />
    public override CheckpointFormat Format => CheckpointFormat.ModelOpt;

    /// <inheritdoc />
    public override string Description =>
        $"modelopt {_algorithm}, group_size {GroupSize} ({Source}{(Producer is null ? "" : $"; producer {Producer}")})";

    /// <inheritdoc />
    public override string WeightSuffix => ".weight";

    /// <inheritdoc />
    public override string WeightGlobalSuffix => ".weight_scale_2";

    /// <inheritdoc />
    public override string InputGlobalSuffix => ".input_scale";

    /// <inheritdoc />
    public override float ToMultiplier(float stored) => stored;

    /// <summary>Reads the nested form of hf_quant_config.json.</summary>
    public static ModelOptQuantization FromHfQuantConfig(JsonElement root, string path)
    {
        JsonElement block = CheckpointJson.Object(root, "quantization", path) ?? root;
        return Create(block, path, CheckpointJson.Object(root, "producer", path), "exclude_modules");
    }

    /// <summary>Reads the flat quantization_config block ModelOpt 0.31 and later embed in config.json.</summary>
    public static ModelOptQuantization FromConfigJson(JsonElement block, string source) =>
        Create(block, source, CheckpointJson.Object(block, "producer", source), "ignore");

    /// <inheritdoc />
    public override bool IsWeightOnly(string module)
    {
        ModuleNamePattern? excludedBy = _excluded.FirstOrDefault(p => p.Matches(module));
        if (excludedBy is not null)
        {
            throw new NotSupportedException(
                $"{Source}: module '{module}' is excluded from quantisation (entry '{excludedBy}'), so its weights are not NVFP4.");
        }
        string algorithm = _algorithm;
        if (_perModule is not null)
        {
            algorithm = _perModule.TryGetValue(module, out string? perModule)
                ? perModule
                : throw new NotSupportedException($"{Source}: module '{module}' is not listed in 'quantized_layers' (quant_algo {MixedPrecision}), so it is not quantised.");
        }
        return algorithm switch
        {
            Nvfp4 => false,
            WeightOnlyNvfp4 => true,
            _ => throw Unsupported(Source, algorithm, module),
        };
    }

    private static ModelOptQuantization Create(JsonElement block, string source, JsonElement? producer, string excludeKey)
    {
        string algorithm = CheckpointJson.String(block, "quant_algo", source)
            ?? throw new InvalidDataException($"{source}: 'quant_algo' is missing.");
        if (algorithm is not (Nvfp4 or WeightOnlyNvfp4 or MixedPrecision))
        {
            throw Unsupported(source, algorithm, module: null);
        }
        if (CheckpointJson.Integer(block, "group_size", source) is int groupSize && groupSize != GroupSize)
        {
            throw new NotSupportedException($"{source}: group_size {groupSize} is not supported; NVFP4 uses blocks of {GroupSize}.");
        }
        string[] excluded = CheckpointJson.Strings(block, excludeKey, source);
        if (excluded.Length == 0 && excludeKey == "exclude_modules")
        {
            excluded = CheckpointJson.Strings(block, "ignore", source);
        }
        Dictionary<string, string>? perModule = null;
        if (algorithm == MixedPrecision)
        {
            JsonElement layers = CheckpointJson.Object(block, "quantized_layers", source)
                ?? throw new InvalidDataException($"{source}: quant_algo {MixedPrecision} needs a 'quantized_layers' object.");
            perModule = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in layers.EnumerateObject())
            {
                perModule[entry.Name] = CheckpointJson.String(entry.Value, "quant_algo", $"{source} quantized_layers.{entry.Name}")
                    ?? throw new InvalidDataException($"{source}: quantized_layers.{entry.Name} has no 'quant_algo'.");
            }
        }
        string? producerText = producer is JsonElement p
            ? string.Join(" ", new[] { CheckpointJson.String(p, "name", source), CheckpointJson.String(p, "version", source) }.Where(s => s is not null))
            : null;
        return new ModelOptQuantization(algorithm, [.. excluded.Select(ModuleNamePattern.Wildcard)], perModule)
        {
            Source = source,
            Producer = string.IsNullOrEmpty(producerText) ? null : producerText,
        };
    }

    private static NotSupportedException Unsupported(string source, string algorithm, string? module) => new(
        $"{source}: quant_algo '{algorithm}'{(module is null ? "" : $" of module '{module}'")} is not supported; the importer reads " +
        $"{Nvfp4} and {WeightOnlyNvfp4} (also per module under {MixedPrecision}).");
}
