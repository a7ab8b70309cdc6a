using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Builds the operator's layer from a checkpoint layer (checkpoint-formats.md §4): experts stacked, W1 rows =
/// [up; gate], block scales in the requested layout, and the scalar arguments chosen so that the operator computes
/// the checkpoint's own function. Fixes the traps T6, T8, T9 and T16 as that document says and notes each fix.
/// </summary>
internal static class MoeLayerAssembler
{
    private const int BlockSize = CheckpointQuantization.GroupSize;

    public static ImportedLayer Assemble(LayerSource source, CheckpointImportOptions options)
    {
        CheckpointModelConfig model = source.Model;
        ExpertNaming naming = source.Naming;
        int experts = model.NumExperts, hidden = model.Hidden, intermediate = model.Intermediate;
        CheckSizes(source);
        var notes = new List<ImportNote>();
        MoeActivation activation = Activation(source, notes);
        bool weightOnly = WeightOnly(source);
        bool legacy = options.LegacyScales && !weightOnly;
        int w1Rows = naming.Gated ? 2 * intermediate : intermediate;

        using DisposeScope scope = NewDisposeScope();
        Tensor w1Codes = empty(new long[] { experts, w1Rows, hidden / 2 }, ScalarType.Byte);
        Tensor w2Codes = empty(new long[] { experts, hidden, intermediate / 2 }, ScalarType.Byte);
        var w1Scales = new byte[(long)experts * w1Rows * (hidden / BlockSize)];
        var w2Scales = new byte[(long)experts * hidden * (intermediate / BlockSize)];
        var reader = new ExpertTensorReader(source.Tensors, source.Quantization, source.Directory);
        var up = new ProjectionScales[experts];
        var gate = new ProjectionScales[experts];
        var down = new ProjectionScales[experts];
        string w1Sizes = $"N = {model.IntermediateKey}, K = hidden_size", w2Sizes = $"N = hidden_size, K = {model.IntermediateKey}";
        for (int e = 0; e < experts; e++)
        {
            // Rows [0, I) of W1 are up, rows [I, 2I) gate (semantics.md; checkpoints and vLLM's w13 are [gate; up]).
            up[e] = ReadInto(reader, naming.Module(source.Layer, e, naming.Up), intermediate, hidden, w1Sizes, w1Codes, w1Scales, (long)e * w1Rows, !weightOnly);
            gate[e] = naming.Gated
                ? ReadInto(reader, naming.Module(source.Layer, e, naming.Gate!), intermediate, hidden, w1Sizes, w1Codes, w1Scales, (long)e * w1Rows + intermediate, !weightOnly)
                : up[e];
            down[e] = ReadInto(reader, naming.Module(source.Layer, e, naming.Down), hidden, intermediate, w2Sizes, w2Codes, w2Scales, (long)e * hidden, !weightOnly);
        }
        NoteNegativeScales(up, gate, down, naming.Gated, notes);

        var w1Alpha = new float[experts];
        var downWeight = new float[experts];
        var legacyStats = new RescaleStats();
        var mergeStats = new RescaleStats();
        var merged = new List<int>();
        var mergeDetails = new List<string>();
        for (int e = 0; e < experts; e++)
        {
            long upRow = (long)e * w1Rows, gateRow = upRow + intermediate;
            float sUp = ZeroIfNeeded(up[e], w1Codes, w1Scales, upRow, intermediate, hidden, e, notes);
            float sGate = naming.Gated ? ZeroIfNeeded(gate[e], w1Codes, w1Scales, gateRow, intermediate, hidden, e, notes) : sUp;
            (sUp, sGate) = (sUp > 0 ? sUp : sGate > 0 ? sGate : 1f, sGate > 0 ? sGate : sUp > 0 ? sUp : 1f);
            downWeight[e] = ZeroIfNeeded(down[e], w2Codes, w2Scales, (long)e * hidden, hidden, intermediate, e, notes) is float sDown and > 0 ? sDown : 1f;
            if (legacy)
            {
                // The older convention has no weight factor: each half's global scale goes into its block scales.
                BlockScaleRescaler.Rescale(Rows(w1Scales, upRow, intermediate, hidden), sUp, 1f, ref legacyStats);
                if (naming.Gated)
                {
                    BlockScaleRescaler.Rescale(Rows(w1Scales, gateRow, intermediate, hidden), sGate, 1f, ref legacyStats);
                }
                continue;
            }
            w1Alpha[e] = MathF.Max(sUp, sGate);
            if (sUp != sGate)
            {
                (long row, float half, string name) = sUp < sGate ? (upRow, sUp, naming.Up) : (gateRow, sGate, naming.Gate!);
                BlockScaleRescaler.Rescale(Rows(w1Scales, row, intermediate, hidden), half, w1Alpha[e], ref mergeStats);
                merged.Add(e);
                mergeDetails.Add(Invariant($"expert {e}: {naming.Gate} {Scale(sGate)}, {naming.Up} {Scale(sUp)} ({name} re-expressed)"));
            }
        }
        if (merged.Count > 0)
        {
            notes.Add(new ImportNote(ImportIssue.GateUpWeightScalesDiffer,
                $"gate/up weight global scales differ ({string.Join("; ", mergeDetails)}); the larger one is w1_alpha and the other half's " +
                $"block scales are re-expressed as E4M3(scale * S_half / S): {mergeStats}", merged));
        }

        string layerName = $"{source.Directory} layer {source.Layer}";
        float[]? fc2InputScale = null;
        float? inputGlobalScale = null;
        var w2Alpha = new float[experts];
        var mapping = new List<string>();
        if (weightOnly)
        {
            Array.Copy(downWeight, w2Alpha, experts);
            int ignored = Enumerable.Range(0, experts).Sum(e =>
                naming.Projections.Count(p => reader.HasInputScale(naming.Module(source.Layer, e, p))));
            if (ignored > 0)
            {
                notes.Add(new ImportNote(ImportIssue.InputScalesIgnored,
                    $"the checkpoint is weight-only but holds {ignored} input scale tensors; they are not used (W4A16 keeps activations in bf16)", []));
            }
            mapping.Add($"weight-only: quant_mode w4a16, w1_alpha[e] = {GateUp(naming)} weight global scale {Range(w1Alpha)}, " +
                $"w2_alpha[e] = {naming.Down} weight global scale {Range(w2Alpha)}; no activation scales");
        }
        else
        {
            float?[] gateUpInputs = InputScaleResolver.MergeGateUp(gate, up, notes);
            float[] fc1Inputs = InputScaleResolver.Fill(gateUpInputs, e => Problems(gate[e], up[e]), GateUp(naming), notes, layerName);
            fc2InputScale = InputScaleResolver.Fill([.. down.Select(d => d.Input)], e => Problems(down[e]), naming.Down, notes, layerName);
            inputGlobalScale = fc1Inputs.Max();
            if (fc1Inputs.Min() != inputGlobalScale)
            {
                notes.Add(new ImportNote(ImportIssue.InputScalesDifferAcrossExperts,
                    $"{GateUp(naming)} input scales differ across experts {Range(fc1Inputs)}; input_global_scale is their maximum, as " +
                    "FlashInfer, TensorRT-LLM and vLLM use one FC1 input scale per layer", []));
            }
            for (int e = 0; e < experts; e++)
            {
                w2Alpha[e] = fc2InputScale[e] * downWeight[e];
            }
            if (legacy)
            {
                Array.Fill(w1Alpha, inputGlobalScale.Value);
                notes.Add(new ImportNote(ImportIssue.LegacyScalesLossy,
                    $"older scale convention: W1 block scales re-encoded as E4M3(scale * weight global scale) (lossy): {legacyStats}", []));
                mapping.Add($"w1_alpha [E] = {Scale(inputGlobalScale.Value)} = the largest {GateUp(naming)} input scale, which is also the FC1 input's " +
                    "quantisation scale (older convention: no input_global_scale; the weight global scales are in W1's block scales)");
                inputGlobalScale = null;
            }
            else
            {
                mapping.Add($"input_global_scale [1] = {Scale(inputGlobalScale.Value)} = the largest {GateUp(naming)} input scale of the layer");
                mapping.Add($"w1_alpha [E] = each expert's {GateUp(naming)} weight global scale {Range(w1Alpha)}");
            }
            mapping.Add($"fc2_input_scale [E] = each expert's {naming.Down} input scale {Range(fc2InputScale)}: kept per expert because the operator " +
                "quantises each routed pair's intermediate with its own expert's scale, which reproduces the checkpoint exactly (one maximum " +
                "would coarsen the experts with smaller activations)");
            mapping.Add($"w2_alpha [E] = fc2_input_scale[e] x {naming.Down} weight global scale[e] {Range(w2Alpha)}");
        }
        if (source.Quantization.Format == CheckpointFormat.CompressedTensors)
        {
            mapping.Add("compressed-tensors global scales were converted to multipliers first: S = fp32(1 / stored)");
        }

        if (model.TopK is int topK && topK > experts)
        {
            throw new InvalidDataException($"{model.Path}: num_experts_per_tok = {topK} exceeds {model.ExpertsKey} = {experts}.");
        }
        if (model.TopK is null)
        {
            notes.Add(new ImportNote(ImportIssue.TopKUnknown, $"{model.Path} has no num_experts_per_tok; the layer's top_k is left open", []));
        }
        var config = new MoeLayerConfig
        {
            Hidden = hidden,
            Intermediate = intermediate,
            NumExperts = experts,
            NumLocalExperts = experts,
            TopK = model.TopK,
            Activation = activation,
            QuantMode = weightOnly ? MoeQuantMode.W4A16 : MoeQuantMode.Nvfp4,
            SourceFormat = MoeSourceFormat.ModelOpt,
            ScaleLayout = options.ScaleLayout,
        };
        var layer = new MoeLayerData(
            config,
            w1Codes.MoveToOuterDisposeScope(),
            ScaleTensor(w1Scales, experts, w1Rows, hidden, options.ScaleLayout).MoveToOuterDisposeScope(),
            w2Codes.MoveToOuterDisposeScope(),
            ScaleTensor(w2Scales, experts, hidden, intermediate, options.ScaleLayout).MoveToOuterDisposeScope(),
            tensor(w1Alpha).MoveToOuterDisposeScope(),
            tensor(w2Alpha).MoveToOuterDisposeScope(),
            fc2InputScale is null ? null : tensor(fc2InputScale).MoveToOuterDisposeScope(),
            inputGlobalScale is float igs ? tensor(new[] { igs }).MoveToOuterDisposeScope() : null);
        var report = new ImportReport
        {
            Checkpoint = source.Directory,
            Layer = source.Layer,
            ModelType = model.ModelType,
            Format = source.Quantization.Format,
            Quantization = source.Quantization.Description,
            ExpertNaming = naming.Pattern.Replace("{layer}", source.Layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
            FilesRead = [.. source.Tensors.FilesOpened],
            TensorsRead = reader.TensorsRead,
            Config = config,
            LegacyScales = legacy,
            ScaleMapping = mapping,
            Notes = notes,
        };
        return new ImportedLayer(layer, report);
    }

    private static ProjectionScales ReadInto(
        ExpertTensorReader reader, string module, int rows, int columns, string sizes, Tensor codes, byte[] scales, long firstRow, bool readInput) =>
        reader.Read(module, rows, columns, sizes,
            TensorPointers.HostSliceMutable<byte>(codes, firstRow * (columns / 2), checked(rows * (columns / 2))),
            Rows(scales, firstRow, rows, columns), readInput);

    /// <summary>The linear block scales of <paramref name="count"/> rows starting at <paramref name="firstRow"/>.</summary>
    private static Span<byte> Rows(byte[] scales, long firstRow, int count, int columns) =>
        scales.AsSpan(checked((int)(firstRow * (columns / BlockSize))), count * (columns / BlockSize));

    /// <summary>
    /// The projection's weight global scale, or 0 after zeroing its codes and scales when the checkpoint says the
    /// weight is all zero (a global scale of 0 in ModelOpt form: compressed-tensors &lt; 0.15 writes +inf, trap T9).
    /// </summary>
    private static float ZeroIfNeeded(
        ProjectionScales scales, Tensor codes, byte[] blockScales, long firstRow, int rows, int columns, int expert, List<ImportNote> notes)
    {
        if (scales.Weight > 0)
        {
            return scales.Weight;
        }
        TensorPointers.HostSliceMutable<byte>(codes, firstRow * (columns / 2), rows * (columns / 2)).Clear();
        Rows(blockScales, firstRow, rows, columns).Clear();
        notes.Add(new ImportNote(ImportIssue.AllZeroWeight,
            $"expert {expert}: '{scales.WeightTensor}' gives a weight global scale of 0 (an all-zero weight); imported as zeros", [expert]));
        return 0f;
    }

    private static void NoteNegativeScales(ProjectionScales[] up, ProjectionScales[] gate, ProjectionScales[] down, bool gated, List<ImportNote> notes)
    {
        var experts = new List<int>();
        long count = 0;
        for (int e = 0; e < up.Length; e++)
        {
            int negative = up[e].NegativeBlockScales + (gated ? gate[e].NegativeBlockScales : 0) + down[e].NegativeBlockScales;
            if (negative > 0)
            {
                experts.Add(e);
                count += negative;
            }
        }
        if (count > 0)
        {
            notes.Add(new ImportNote(ImportIssue.NegativeBlockScales,
                Invariant($"{count} block scales have the sign bit set (experts {IndexRanges.Format(experts)}); they are decoded as negative, as written"),
                experts));
        }
    }

    private static MoeActivation Activation(LayerSource source, List<ImportNote> notes)
    {
        CheckpointModelConfig model = source.Model;
        bool gated = source.Naming.Gated;
        if (model.Activation is null)
        {
            MoeActivation assumed = gated ? MoeActivation.Silu : MoeActivation.Relu2;
            notes.Add(new ImportNote(ImportIssue.ActivationAssumed,
                $"{model.Path} names no activation ({string.Join(" / ", CheckpointModelConfig.ActivationKeys)}); " +
                $"{(gated ? "gated experts" : "experts without a gate projection")} imply {ModeSpellings.ToSpelling(assumed)}", []));
            return assumed;
        }
        return (gated, model.Activation) switch
        {
            (true, "silu" or "swish") => MoeActivation.Silu,
            (false, "relu2") => MoeActivation.Relu2,
            _ => throw new NotSupportedException(
                $"{model.Path}: {model.ActivationKey} = '{model.Activation}' is not supported for {(gated ? "gated experts (gate, up, down)" : "experts without a gate projection")}; " +
                $"the operator implements {(gated ? "silu (gate) x up" : "relu2")}."),
        };
    }

    /// <summary>Whether the layer is weight-only; every expert projection must be NVFP4 with the same mode.</summary>
    private static bool WeightOnly(LayerSource source)
    {
        bool? first = null;
        string? firstModule = null;
        for (int e = 0; e < source.Model.NumExperts; e++)
        {
            foreach (string projection in source.Naming.Projections)
            {
                string module = source.Naming.Module(source.Layer, e, projection);
                bool weightOnly = source.Quantization.IsWeightOnly(module);
                if (first is not null && first != weightOnly)
                {
                    throw new NotSupportedException(
                        $"{source.Quantization.Source}: '{firstModule}' is {Mode(first.Value)} but '{module}' is {Mode(weightOnly)}; one layer has one quant mode.");
                }
                (first, firstModule) = (weightOnly, module);
            }
        }
        return first!.Value;
        static string Mode(bool weightOnly) => weightOnly ? "weight-only NVFP4" : "NVFP4 with activations";
    }

    private static void CheckSizes(LayerSource source)
    {
        CheckpointModelConfig model = source.Model;
        foreach ((string key, int value) in new[] { ("hidden_size", model.Hidden), (model.IntermediateKey, model.Intermediate) })
        {
            if (value % BlockSize != 0)
            {
                throw new InvalidDataException($"{model.Path}: {key} = {value} is not a multiple of {BlockSize}, the NVFP4 block size.");
            }
        }
        string beyond = source.Naming.Module(source.Layer, model.NumExperts, source.Naming.Down) + source.Quantization.WeightSuffix;
        if (source.Tensors.Contains(beyond))
        {
            throw new InvalidDataException(
                $"{source.Directory}: tensor '{beyond}' exists, but {model.Path} says {model.ExpertsKey} = {model.NumExperts} (experts 0..{model.NumExperts - 1}).");
        }
    }

    private static Tensor ScaleTensor(byte[] linear, int experts, int rows, int columns, ScaleLayout layout)
    {
        (byte[] bytes, long[] shape) = layout == ScaleLayout.Swizzled128x4
            ? (SwizzledScaleLayout.FromLinear(linear, experts, rows, columns),
               new long[] { experts, SwizzledScaleLayout.PaddedRows(rows), SwizzledScaleLayout.PaddedBlocks(columns) })
            : (linear, new long[] { experts, rows, columns / BlockSize });
        Tensor result = empty(shape, ScalarType.Byte);
        bytes.CopyTo(TensorPointers.HostSpanMutable<byte>(result));
        return result;
    }

    private static string Problems(params ProjectionScales[] projections) => string.Join(", ",
        projections.DistinctBy(p => p.InputTensor).Where(p => p.InputProblem is not null).Select(p => $"'{p.InputTensor}' {p.InputProblem}"));

    private static string GateUp(ExpertNaming naming) => naming.Gated ? $"{naming.Gate}/{naming.Up}" : naming.Up;

    private static string Range(float[] values) => values.Min() == values.Max()
        ? $"(all {Scale(values[0])})"
        : $"({Scale(values.Min())} to {Scale(values.Max())})";

    private static string Scale(float value) => InputScaleResolver.Scale(value);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
