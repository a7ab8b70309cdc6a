using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Turns the per-expert input scales of a layer into values the operator can use, as checkpoint-formats.md says:
/// gate and up of an expert see the same input, so their scales are merged (the larger one where they differ);
/// missing, non-finite or non-positive scales are replaced by the largest valid scale of the same projection in
/// the layer (ModelOpt's own rule for uncalibrated experts, trap T8); valid scales far from the others are flagged.
/// Every change becomes an <see cref="ImportNote"/>.
/// </summary>
internal static class InputScaleResolver
{
    /// <summary>
    /// A valid scale this many times above or below the layer's median is flagged as possibly garbage (T8: finite
    /// garbage cannot be told apart with certainty). Two orders of magnitude: calibrated amaxes of one projection
    /// across a layer's experts stay well within that, while uninitialised memory is usually far outside it.
    /// </summary>
    private const double OutlierFactor = 100;

    /// <summary>Per expert, the gate/up input scale: the larger of the two valid values, or null when both are unusable.</summary>
    public static float?[] MergeGateUp(ProjectionScales[] gate, ProjectionScales[] up, List<ImportNote> notes)
    {
        var merged = new float?[up.Length];
        var differing = new List<int>();
        var details = new List<string>();
        for (int e = 0; e < up.Length; e++)
        {
            (float? g, float? u) = (gate[e].Input, up[e].Input);
            merged[e] = g is null ? u : u is null ? g : MathF.Max(g.Value, u.Value);
            if (g is not null && u is not null && g != u)
            {
                differing.Add(e);
                details.Add(Invariant($"expert {e}: {Scale(g.Value)} vs {Scale(u.Value)}"));
            }
            else if ((g is null) != (u is null))
            {
                ProjectionScales bad = g is null ? gate[e] : up[e], good = g is null ? up[e] : gate[e];
                notes.Add(new ImportNote(ImportIssue.InputScaleReplaced,
                    Invariant($"expert {e}: '{bad.InputTensor}' {bad.InputProblem}; used '{good.InputTensor}' = {Scale(merged[e]!.Value)} (gate and up see the same input)"),
                    [e]));
            }
        }
        if (differing.Count > 0)
        {
            notes.Add(new ImportNote(ImportIssue.GateUpInputScalesDiffer,
                $"gate and up input scales differ ({string.Join("; ", details)}); the larger one is used for both", differing));
        }
        return merged;
    }

    /// <summary>
    /// Replaces the unusable entries of <paramref name="values"/> with the largest valid one and flags outliers.
    /// </summary>
    /// <param name="values">Per expert, the valid scale or null.</param>
    /// <param name="describe">For an expert whose value is null: which tensors were unusable and why.</param>
    /// <param name="projection">The projection's name for messages, e.g. "gate/up" or "down_proj".</param>
    /// <param name="notes">Receives the notes.</param>
    /// <param name="layerName">The layer for error messages.</param>
    /// <exception cref="InvalidDataException">No expert has a valid scale: the layer is not calibrated.</exception>
    public static float[] Fill(float?[] values, Func<int, string> describe, string projection, List<ImportNote> notes, string layerName)
    {
        float[] valid = values.Where(v => v is not null).Select(v => v!.Value).ToArray();
        if (valid.Length == 0)
        {
            throw new InvalidDataException(
                $"{layerName}: no expert has a usable {projection} input scale ({describe(0)}, and likewise for the others); " +
                "the layer is not calibrated for NVFP4 activations, so the checkpoint does not define the function to import.");
        }
        float largest = valid.Max();
        var replaced = new List<int>();
        var details = new List<string>();
        var result = new float[values.Length];
        for (int e = 0; e < values.Length; e++)
        {
            if (values[e] is float value)
            {
                result[e] = value;
            }
            else
            {
                result[e] = largest;
                replaced.Add(e);
                details.Add($"expert {e}: {describe(e)}");
            }
        }
        if (replaced.Count > 0)
        {
            notes.Add(new ImportNote(ImportIssue.InputScaleReplaced,
                Invariant($"{projection} input scale unusable ({string.Join("; ", details)}); replaced by the largest valid one of the layer, {Scale(largest)}"),
                replaced));
        }
        FlagOutliers(values, projection, notes);
        return result;
    }

    private static void FlagOutliers(float?[] values, string projection, List<ImportNote> notes)
    {
        double[] sorted = values.Where(v => v is not null).Select(v => (double)v!.Value).Order().ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var outliers = new List<int>();
        var details = new List<string>();
        for (int e = 0; e < values.Length; e++)
        {
            if (values[e] is float value && (value > median * OutlierFactor || value < median / OutlierFactor))
            {
                outliers.Add(e);
                details.Add(Invariant($"expert {e}: {Scale(value)}"));
            }
        }
        if (outliers.Count > 0)
        {
            notes.Add(new ImportNote(ImportIssue.InputScaleOutlier,
                Invariant($"{projection} input scale more than {OutlierFactor}x away from the layer's median {Scale((float)median)} ({string.Join("; ", details)}); kept, but it may be uninitialised memory"),
                outliers));
        }
    }

    /// <summary>A scale in a short, round-trippable form.</summary>
    public static string Scale(float value) => value.ToString("G9", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
