using System;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.Data;

namespace Microsoft.ML.B12x;

/// <summary>
/// Reads the MoE input columns of the current row of a <see cref="DataViewRow"/> into the next row of a
/// <see cref="FusedMoeBatch"/>, rounding hidden states to bfloat16 (to nearest, ties to even; NaN kept).
/// </summary>
internal sealed class FusedMoeRowReader
{
    private readonly ValueGetter<VBuffer<float>> _hidden;
    private readonly ValueGetter<VBuffer<int>>? _ids;
    private readonly ValueGetter<VBuffer<float>>? _weights;
    private readonly ValueGetter<VBuffer<float>>? _logits;
    private readonly FusedMoeSchemaBinding _binding;
    private readonly float[] _dense;
    private VBuffer<float> _hiddenBuffer;
    private VBuffer<int> _idsBuffer;
    private VBuffer<float> _floatBuffer;

    public FusedMoeRowReader(DataViewRow row, FusedMoeSchemaBinding binding)
    {
        _binding = binding;
        _dense = new float[binding.HiddenSize];
        _hidden = row.GetGetter<VBuffer<float>>(Column(row, binding.Hidden));
        _ids = binding.ExpertIds is { } ids ? row.GetGetter<VBuffer<int>>(Column(row, ids)) : null;
        _weights = binding.RoutingWeights is { } weights ? row.GetGetter<VBuffer<float>>(Column(row, weights)) : null;
        _logits = binding.RouterLogits is { } logits ? row.GetGetter<VBuffer<float>>(Column(row, logits)) : null;
    }

    /// <summary>Appends the row's values to <paramref name="batch"/>.</summary>
    public void ReadInto(FusedMoeBatch batch)
    {
        int row = batch.AddRow();
        _hidden(ref _hiddenBuffer);
        Check(_hiddenBuffer.Length, batch.Hidden, _binding.Hidden.Name);
        _hiddenBuffer.CopyTo(_dense);
        BFloat16Bits.FromSingle(_dense, batch.HiddenBits.AsSpan(row * batch.Hidden, batch.Hidden));
        if (_logits is not null)
        {
            _logits(ref _floatBuffer);
            Check(_floatBuffer.Length, batch.LogitsWidth, _binding.RouterLogits!.Value.Name);
            _floatBuffer.CopyTo(batch.RouterLogits.AsSpan(row * batch.LogitsWidth, batch.LogitsWidth));
            return;
        }
        _ids!(ref _idsBuffer);
        Check(_idsBuffer.Length, batch.TopK, _binding.ExpertIds!.Value.Name);
        _idsBuffer.CopyTo(batch.ExpertIds.AsSpan(row * batch.TopK, batch.TopK));
        _weights!(ref _floatBuffer);
        Check(_floatBuffer.Length, batch.TopK, _binding.RoutingWeights!.Value.Name);
        _floatBuffer.CopyTo(batch.RoutingWeights.AsSpan(row * batch.TopK, batch.TopK));
    }

    /// <summary>The row's column at the index the binding found (the row's schema may be a wider one that contains it).</summary>
    private static DataViewSchema.Column Column(DataViewRow row, DataViewSchema.Column bound) => row.Schema[bound.Index];

    private static void Check(int actual, int expected, string column)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException(
                $"Column '{column}' delivered a vector of length {actual} although its type says {expected}; the input view is inconsistent.");
        }
    }
}
