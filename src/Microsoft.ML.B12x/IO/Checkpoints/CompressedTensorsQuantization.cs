using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// A compressed-tensors quantisation config (checkpoint-formats.md §3.1): <c>config_groups</c> whose
/// <c>targets</c> pick modules (class name "Linear", exact names or <c>re:</c> patterns), each with a <c>weights</c>
/// and an optional <c>input_activations</c> scheme, plus <c>ignore</c>. Read: format <c>nvfp4-pack-quantized</c>
/// with 4-bit float weights in groups of 16; static input global scales (<c>dynamic</c> false or "local") give
/// NVFP4 activations, no <c>input_activations</c> gives weight-only (NVFP4A16).
/// </summary>
internal sealed class CompressedTensorsQuantization : CheckpointQuantization
{
    private const string PackedFormat = "nvfp4-pack-quantized";

    /// <summary>Expert projections are nn.Linear modules, which a "Linear" target selects by class.</summary>
    private const string LinearClass = "Linear";

    private readonly List<Group> _groups;
    private readonly ModuleNamePattern[] _ignored;

    private CompressedTensorsQuantization(List<Group> groups, ModuleNamePattern[] ignored)
    {
        _groups = groups;
        _ignored = ignored;
    }

    /// <inheritdoc />
    public override CheckpointFormat Format => CheckpointFormat.CompressedTensors;

    /// <inheritdoc />
    public override string Description =>
        $"compressed-tensors {PackedFormat}, group_size {GroupSize} ({Source}{(Producer is null ? "" : $"; {Producer}")})";

    /// <inheritdoc />
    public override string WeightSuffix => ".weight_packed";

    /// <inheritdoc />
    public override string WeightGlobalSuffix => ".weight_global_scale";

    /// <inheritdoc />
    public override string InputGlobalSuffix => ".input_global_scale";

    /// <inheritdoc />
    public override float ToMultiplier(float stored) => 1f / stored;

    /// <summary>Reads the quantization_config block of config.json.</summary>
    public static CompressedTensorsQuantization FromConfigJson(JsonElement block, string source)
    {
        JsonElement groups = CheckpointJson.Object(block, "config_groups", source)
            ?? throw new InvalidDataException($"{source}: 'config_groups' is missing.");
        string? topFormat = CheckpointJson.String(block, "format", source);
        var parsed = new List<Group>();
        foreach (JsonProperty group in groups.EnumerateObject())
        {
            string where = $"{source} config_groups.{group.Name}";
            if (group.Value.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{where} must be an object.");
            }
            parsed.Add(new Group(
                group.Name,
                [.. CheckpointJson.Strings(group.Value, "targets", where).Select(ModuleNamePattern.CompressedTensors)],
                CheckpointJson.String(group.Value, "format", where) ?? topFormat,
                CheckpointJson.Object(group.Value, "weights", where),
                CheckpointJson.Object(group.Value, "input_activations", where)));
        }
        string? version = CheckpointJson.String(block, "version", source);
        return new CompressedTensorsQuantization(parsed, [.. CheckpointJson.Strings(block, "ignore", source).Select(ModuleNamePattern.CompressedTensors)])
        {
            Source = source,
            Producer = version is null ? null : $"version {version}",
        };
    }

    /// <inheritdoc />
    public override bool IsWeightOnly(string module)
    {
        ModuleNamePattern? ignoredBy = _ignored.FirstOrDefault(p => p.Matches(module));
        if (ignoredBy is not null)
        {
            throw new NotSupportedException($"{Source}: module '{module}' is ignored by quantisation (entry '{ignoredBy}'), so its weights are not NVFP4.");
        }
        Group group = _groups.FirstOrDefault(g => g.Targets.Any(t => t.ToString() == LinearClass || t.Matches(module)))
            ?? throw new NotSupportedException($"{Source}: no config group targets module '{module}', so it is not quantised.");
        string where = $"{Source} config_groups.{group.Name}";
        if (group.Format != PackedFormat)
        {
            throw new NotSupportedException(
                $"{where}: format '{group.Format ?? "(none)"}' is not supported; the importer reads '{PackedFormat}'.");
        }
        JsonElement weights = group.Weights ?? throw new InvalidDataException($"{where}: 'weights' is missing.");
        int? bits = CheckpointJson.Integer(weights, "num_bits", where);
        string? type = CheckpointJson.String(weights, "type", where);
        int? groupSize = CheckpointJson.Integer(weights, "group_size", where);
        if (bits != 4 || type != "float" || groupSize != GroupSize)
        {
            throw new NotSupportedException(
                $"{where}: weights num_bits {bits?.ToString() ?? "(none)"}, type '{type ?? "(none)"}', group_size {groupSize?.ToString() ?? "(none)"} " +
                $"are not NVFP4 (num_bits 4, type 'float', group_size {GroupSize}).");
        }
        if (group.InputActivations is not JsonElement inputs)
        {
            return true;
        }
        if (CheckpointJson.Member(inputs, "dynamic") is { ValueKind: JsonValueKind.True })
        {
            throw new NotSupportedException(
                $"{where}: input_activations are fully dynamic (no stored input_global_scale); the operator needs a static FC1 input scale.");
        }
        return false;
    }

    private sealed record Group(string Name, ModuleNamePattern[] Targets, string? Format, JsonElement? Weights, JsonElement? InputActivations);
}
