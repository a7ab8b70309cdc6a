using System;

namespace Microsoft.ML.B12x;

/// <summary>
/// Routes tokens from router logits, on the host, in float32 with every operation rounded:
/// softmax(v)_i = fp32(exp(fp32(v_i − max v)) / s), s = the fp32 sum of the exponentials in ascending index, with
/// <see cref="MathF.Exp"/>; top-k picks the K largest values in descending order, a tie going to the lower index and
/// NaN counting as the largest value; renormalisation divides each selected weight by their fp32 sum in ascending k.
/// A row holding NaN or +∞ (or only −∞) gets NaN weights, so its output row is NaN.
/// </summary>
internal sealed class MoeRouter
{
    public MoeRouter(RouterKind kind, int numExperts, int topK, bool normalize)
    {
        if (!Enum.IsDefined(kind))
        {
            throw UnknownKind(kind, nameof(kind));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(numExperts, 1);
        if (topK < 1 || topK > numExperts)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, $"The router needs 1 ≤ K ≤ E = {numExperts}.");
        }
        Kind = kind;
        NumExperts = numExperts;
        TopK = topK;
        Normalize = normalize;
    }

    public RouterKind Kind { get; }

    public int NumExperts { get; }

    public int TopK { get; }

    /// <summary>Whether <see cref="RouterKind.SoftmaxTopK"/> renormalises the selected weights (ignored by the other kind).</summary>
    public bool Normalize { get; }

    /// <summary>The exception for a router kind this library does not implement.</summary>
    public static ArgumentOutOfRangeException UnknownKind(RouterKind kind, string parameterName) => new(
        parameterName, kind,
        $"Router kind {(int)kind} is not implemented. Supported: {nameof(RouterKind.SoftmaxTopK)} (softmax over E, top-k, optional " +
        $"renormalisation: Qwen3-MoE, Mixtral) and {nameof(RouterKind.TopKSoftmax)} (top-k logits, softmax over k: gpt-oss). Other " +
        "routings (e.g. DeepSeek-V3's grouped sigmoid routing) are not implemented: compute expert ids and routing weights yourself " +
        "and pass them instead of router logits.");

    /// <summary>Routes <c>logits.Length / E</c> rows: logits [rows, E] → ids [rows, K], weights [rows, K].</summary>
    public void Route(ReadOnlySpan<float> logits, Span<int> ids, Span<float> weights)
    {
        int rows = logits.Length / NumExperts;
        if (rows * NumExperts != logits.Length || ids.Length < rows * TopK || weights.Length < rows * TopK)
        {
            throw new ArgumentException(
                $"Expected logits of [rows, {NumExperts}] and room for [rows, {TopK}] ids and weights; got {logits.Length}, {ids.Length}, {weights.Length} values.");
        }
        float[] scratch = new float[NumExperts];
        bool[] taken = new bool[NumExperts];
        for (int r = 0; r < rows; r++)
        {
            RouteRow(
                logits.Slice(r * NumExperts, NumExperts), ids.Slice(r * TopK, TopK), weights.Slice(r * TopK, TopK), scratch, taken);
        }
    }

    private void RouteRow(ReadOnlySpan<float> logits, Span<int> ids, Span<float> weights, Span<float> scratch, Span<bool> taken)
    {
        if (Kind == RouterKind.SoftmaxTopK)
        {
            Softmax(logits, scratch);
            SelectTopK(scratch, ids, taken);
            for (int k = 0; k < TopK; k++)
            {
                weights[k] = scratch[ids[k]];
            }
            if (Normalize)
            {
                float sum = 0f;
                for (int k = 0; k < TopK; k++)
                {
                    sum += weights[k];
                }
                for (int k = 0; k < TopK; k++)
                {
                    weights[k] /= sum;
                }
            }
            return;
        }
        SelectTopK(logits, ids, taken);
        Span<float> selected = scratch[..TopK];
        for (int k = 0; k < TopK; k++)
        {
            selected[k] = logits[ids[k]];
        }
        Softmax(selected, weights);
    }

    private static void Softmax(ReadOnlySpan<float> values, Span<float> result)
    {
        float max = float.NegativeInfinity;
        foreach (float v in values)
        {
            max = v > max ? v : max;
        }
        float sum = 0f;
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = MathF.Exp(values[i] - max);
            sum += result[i];
        }
        for (int i = 0; i < values.Length; i++)
        {
            result[i] /= sum;
        }
    }

    /// <summary>The indices of the K largest values, descending; ties to the lower index; NaN above every number.</summary>
    private void SelectTopK(ReadOnlySpan<float> values, Span<int> ids, Span<bool> taken)
    {
        taken.Clear();
        for (int k = 0; k < TopK; k++)
        {
            int best = -1;
            for (int i = 0; i < values.Length; i++)
            {
                if (!taken[i] && (best < 0 || Greater(values[i], values[best])))
                {
                    best = i;
                }
            }
            taken[best] = true;
            ids[k] = best;
        }
    }

    private static bool Greater(float a, float b) => float.IsNaN(a) ? !float.IsNaN(b) : !float.IsNaN(b) && a > b;
}
