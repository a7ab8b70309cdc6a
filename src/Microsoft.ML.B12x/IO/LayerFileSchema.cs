using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.IO.Safetensors;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// The rules of a layer file (api.md "Files"): which tensors and metadata it holds and how their shapes follow from
/// one another. Used on load (errors become <see cref="System.IO.InvalidDataException"/>) and on save (errors become
/// <see cref="ArgumentException"/>), so both apply exactly the same rules. Each error names the key or tensor.
/// </summary>
internal static class LayerFileSchema
{
    private static readonly string[] s_requiredTensors =
    [
        LayerFile.W1WeightName, LayerFile.W1WeightSfName, LayerFile.W2WeightName, LayerFile.W2WeightSfName,
        LayerFile.W1AlphaName, LayerFile.W2AlphaName,
    ];

    private static readonly string[] s_optionalTensors = [LayerFile.Fc2InputScaleName, LayerFile.InputGlobalScaleName];

    /// <summary>Derives and checks the configuration; <paramref name="fail"/> turns a reason into the exception to throw.</summary>
    public static MoeLayerConfig Validate(
        IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, TensorSignature> tensors,
        Func<string, Exception> fail)
    {
        if (!metadata.ContainsKey(LayerFile.ScaleLayoutKey))
        {
            throw fail($"metadata '{LayerFile.ScaleLayoutKey}' is missing; it is required (no default) because swizzled and linear " +
                "scales often have the same shape: write 'swizzled128x4' or 'linear'");
        }
        ScaleLayout layout = Spelling(metadata, LayerFile.ScaleLayoutKey, ModeSpellings.ParseScaleLayout, ScaleLayout.Swizzled128x4, fail);
        MoeActivation activation = Spelling(metadata, LayerFile.ActivationKey, ModeSpellings.ParseActivation, MoeActivation.Silu, fail);
        MoeQuantMode quantMode = Spelling(metadata, LayerFile.QuantModeKey, ModeSpellings.ParseQuantMode, MoeQuantMode.Nvfp4, fail);
        MoeSourceFormat sourceFormat = Spelling(metadata, LayerFile.SourceFormatKey, ModeSpellings.ParseSourceFormat, MoeSourceFormat.ModelOpt, fail);
        if (sourceFormat == MoeSourceFormat.CompressedTensors && quantMode != MoeQuantMode.W4A16)
        {
            throw fail($"metadata '{LayerFile.SourceFormatKey}' = 'compressed_tensors' requires '{LayerFile.QuantModeKey}' = 'w4a16'; " +
                $"got '{ModeSpellings.ToSpelling(quantMode)}'");
        }
        int? numExperts = Number(metadata, LayerFile.NumExpertsKey, 1, fail);
        int? topK = Number(metadata, LayerFile.TopKKey, 1, fail);
        int? numLocalExperts = Number(metadata, LayerFile.NumLocalExpertsKey, 1, fail);
        int offset = Number(metadata, LayerFile.LocalExpertOffsetKey, 0, fail) ?? 0;

        foreach (string name in tensors.Keys)
        {
            if (!s_requiredTensors.Contains(name) && !s_optionalTensors.Contains(name))
            {
                throw fail($"unexpected tensor '{name}'; a layer file holds only {string.Join(", ", s_requiredTensors.Concat(s_optionalTensors))}");
            }
        }
        foreach (string name in s_requiredTensors)
        {
            if (!tensors.ContainsKey(name))
            {
                throw fail($"tensor '{name}' is missing");
            }
        }
        if (quantMode == MoeQuantMode.Nvfp4 && !tensors.ContainsKey(LayerFile.Fc2InputScaleName))
        {
            throw fail($"tensor '{LayerFile.Fc2InputScaleName}' is missing; it is required when '{LayerFile.QuantModeKey}' is nvfp4");
        }

        TensorSignature w2 = tensors[LayerFile.W2WeightName];
        RequireDtype(w2, LayerFile.W2WeightName, fail, SafetensorsDtype.U8);
        if (w2.Shape.Length != 3)
        {
            throw fail($"tensor '{LayerFile.W2WeightName}' must have shape [E_loc, H, I/2]; got {w2.ShapeText}");
        }
        int localExperts = Dimension(w2, 0, LayerFile.W2WeightName, fail);
        int hidden = Dimension(w2, 1, LayerFile.W2WeightName, fail);
        long intermediate = 2L * Dimension(w2, 2, LayerFile.W2WeightName, fail);
        if (localExperts < 1 || hidden < 16 || hidden % 16 != 0 || intermediate < 16 || intermediate % 16 != 0 || intermediate > int.MaxValue)
        {
            throw fail($"tensor '{LayerFile.W2WeightName}' of shape {w2.ShapeText} gives E_loc = {localExperts}, H = {hidden}, I = {intermediate}; " +
                $"E_loc must be at least 1 and H and I positive multiples of 16, I at most {int.MaxValue}");
        }

        if (numLocalExperts is not null && numLocalExperts != localExperts)
        {
            throw fail($"metadata '{LayerFile.NumLocalExpertsKey}' = {numLocalExperts} but the weight tensors hold {localExperts} experts");
        }
        int experts = numExperts ?? localExperts;
        if (numLocalExperts is null && numExperts is not null && numExperts != localExperts)
        {
            throw fail($"the weight tensors hold {localExperts} experts but metadata '{LayerFile.NumExpertsKey}' = {numExperts} and " +
                $"'{LayerFile.NumLocalExpertsKey}' (default: num_experts) is absent; write '{LayerFile.NumLocalExpertsKey}' = {localExperts} for an expert-parallel shard");
        }
        if ((long)offset + localExperts > experts)
        {
            throw fail($"metadata '{LayerFile.LocalExpertOffsetKey}' = {offset} plus {localExperts} local experts exceeds '{LayerFile.NumExpertsKey}' = {experts}");
        }

        var config = new MoeLayerConfig
        {
            Hidden = hidden,
            Intermediate = (int)intermediate,
            NumExperts = experts,
            NumLocalExperts = localExperts,
            LocalExpertOffset = offset,
            TopK = topK,
            Activation = activation,
            QuantMode = quantMode,
            SourceFormat = sourceFormat,
            ScaleLayout = layout,
        };

        TensorSignature w1 = tensors[LayerFile.W1WeightName];
        RequireDtype(w1, LayerFile.W1WeightName, fail, SafetensorsDtype.U8);
        if (!w1.HasShape(localExperts, config.W1Rows, hidden / 2))
        {
            string rows = activation == MoeActivation.Silu ? "2·I" : "I";
            throw fail($"tensor '{LayerFile.W1WeightName}' must have shape [E_loc, {rows}, H/2] = [{localExperts}, {config.W1Rows}, {hidden / 2}] " +
                $"for activation {ModeSpellings.ToSpelling(activation)} (H and I from '{LayerFile.W2WeightName}' {w2.ShapeText}); got {w1.ShapeText}");
        }
        CheckScales(tensors[LayerFile.W1WeightSfName], LayerFile.W1WeightSfName, config, config.W1Rows, hidden, fail);
        CheckScales(tensors[LayerFile.W2WeightSfName], LayerFile.W2WeightSfName, config, hidden, config.Intermediate, fail);
        foreach (string name in new[] { LayerFile.W1AlphaName, LayerFile.W2AlphaName }.Concat(s_optionalTensors))
        {
            if (tensors.TryGetValue(name, out TensorSignature scalars))
            {
                CheckScalars(scalars, name, config, fail);
            }
        }
        return config;
    }

    /// <summary>The metadata entries that describe <paramref name="config"/>, all keys written explicitly.</summary>
    public static IEnumerable<KeyValuePair<string, string>> Metadata(MoeLayerConfig config)
    {
        yield return new(LayerFile.ActivationKey, ModeSpellings.ToSpelling(config.Activation));
        yield return new(LayerFile.QuantModeKey, ModeSpellings.ToSpelling(config.QuantMode));
        yield return new(LayerFile.SourceFormatKey, ModeSpellings.ToSpelling(config.SourceFormat));
        yield return new(LayerFile.ScaleLayoutKey, ModeSpellings.ToSpelling(config.ScaleLayout));
        yield return new(LayerFile.NumExpertsKey, config.NumExperts.ToString(CultureInfo.InvariantCulture));
        if (config.TopK is int topK)
        {
            yield return new(LayerFile.TopKKey, topK.ToString(CultureInfo.InvariantCulture));
        }
        yield return new(LayerFile.NumLocalExpertsKey, config.NumLocalExperts.ToString(CultureInfo.InvariantCulture));
        yield return new(LayerFile.LocalExpertOffsetKey, config.LocalExpertOffset.ToString(CultureInfo.InvariantCulture));
    }

    private static T Spelling<T>(
        IReadOnlyDictionary<string, string> metadata, string key, Func<string, string, T> parse, T fallback, Func<string, Exception> fail)
    {
        if (!metadata.TryGetValue(key, out string? text))
        {
            return fallback;
        }
        try
        {
            return parse(text, key);
        }
        catch (ArgumentException e)
        {
            throw fail($"metadata '{key}': {e.Message.TrimEnd('.')} (spellings are case-sensitive)");
        }
    }

    private static int? Number(IReadOnlyDictionary<string, string> metadata, string key, int minimum, Func<string, Exception> fail)
    {
        if (!metadata.TryGetValue(key, out string? text))
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < minimum)
        {
            throw fail($"metadata '{key}' = '{text}' must be a decimal integer of at least {minimum}");
        }
        return value;
    }

    private static int Dimension(TensorSignature tensor, int axis, string name, Func<string, Exception> fail) =>
        tensor.Shape[axis] <= int.MaxValue
            ? (int)tensor.Shape[axis]
            : throw fail($"tensor '{name}' has dimension {axis} of {tensor.Shape[axis]}, above {int.MaxValue}");

    private static void RequireDtype(TensorSignature tensor, string name, Func<string, Exception> fail, params SafetensorsDtype[] accepted)
    {
        if (!accepted.Contains(tensor.Dtype))
        {
            throw fail($"tensor '{name}' must have dtype {string.Join(" or ", accepted.Select(SafetensorsDtypes.ToName))}; got {tensor.DtypeName}");
        }
    }

    private static void CheckScales(TensorSignature scales, string name, MoeLayerConfig config, int rows, int columns, Func<string, Exception> fail)
    {
        RequireDtype(scales, name, fail, SafetensorsDtype.F8E4M3, SafetensorsDtype.U8);
        long[] expected = config.ScaleLayout == ScaleLayout.Swizzled128x4
            ? [config.NumLocalExperts, SwizzledScaleLayout.PaddedRows(rows), SwizzledScaleLayout.PaddedBlocks(columns)]
            : [config.NumLocalExperts, rows, LinearScaleLayout.Blocks(columns)];
        if (!scales.HasShape(expected))
        {
            string form = config.ScaleLayout == ScaleLayout.Swizzled128x4 ? "[E_loc, Np, Cbp]" : "[E_loc, N, C/16]";
            throw fail($"tensor '{name}' must have shape {form} = [{string.Join(", ", expected)}] for scale_layout " +
                $"'{ModeSpellings.ToSpelling(config.ScaleLayout)}' ({rows} rows × {columns} columns); got {scales.ShapeText}");
        }
    }

    private static void CheckScalars(TensorSignature scalars, string name, MoeLayerConfig config, Func<string, Exception> fail)
    {
        RequireDtype(scalars, name, fail, SafetensorsDtype.F32);
        long length = scalars.Shape.Length == 1 ? scalars.Shape[0] : -1;
        if (length != 1 && length != config.NumExperts && length != config.NumLocalExperts)
        {
            throw fail($"tensor '{name}' must have shape [1], [num_experts = {config.NumExperts}] or [num_local_experts = {config.NumLocalExperts}]; " +
                $"got {scalars.ShapeText}");
        }
    }
}
