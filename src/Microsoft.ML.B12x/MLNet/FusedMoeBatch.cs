using System;

namespace Microsoft.ML.B12x;

/// <summary>
/// Host buffers of one fused call: up to <see cref="Capacity"/> rows of hidden states (bfloat16 bits, [rows, H]),
/// routing (ids and weights, [rows, K], or router logits, [rows, E]) and the output ([rows, H], float32 widened
/// from bfloat16). Reused from batch to batch.
/// </summary>
internal sealed class FusedMoeBatch
{
    public FusedMoeBatch(int capacity, int hidden, int topK, int logitsWidth)
    {
        Capacity = capacity;
        Hidden = hidden;
        TopK = topK;
        LogitsWidth = logitsWidth;
        HiddenBits = new ushort[checked(capacity * hidden)];
        ExpertIds = new int[checked(capacity * topK)];
        RoutingWeights = new float[checked(capacity * topK)];
        RouterLogits = new float[checked(capacity * logitsWidth)];
        Output = new float[checked(capacity * hidden)];
    }

    public int Capacity { get; }

    /// <summary>H.</summary>
    public int Hidden { get; }

    /// <summary>K.</summary>
    public int TopK { get; }

    /// <summary>E when rows carry router logits, else 0.</summary>
    public int LogitsWidth { get; }

    /// <summary>Rows filled so far.</summary>
    public int Count { get; private set; }

    public ushort[] HiddenBits { get; }

    public int[] ExpertIds { get; }

    public float[] RoutingWeights { get; }

    public float[] RouterLogits { get; }

    public float[] Output { get; }

    public bool IsFull => Count == Capacity;

    public void Clear() => Count = 0;

    /// <summary>Claims the next row; the caller fills its slices.</summary>
    public int AddRow()
    {
        if (IsFull)
        {
            throw new InvalidOperationException($"The batch already holds {Capacity} rows.");
        }
        return Count++;
    }

    /// <summary>The output of row <paramref name="row"/>, [H].</summary>
    public ReadOnlySpan<float> OutputRow(int row) => Output.AsSpan(row * Hidden, Hidden);
}
