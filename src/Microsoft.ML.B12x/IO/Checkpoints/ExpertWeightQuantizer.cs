using System;
using System.IO;
using System.Threading.Tasks;
using Microsoft.ML.B12x.Quantization;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// ModelOpt's NVFP4 weight recipe (<see cref="WeightBlockQuantizer"/>) applied to one [N, K] matrix with a global
/// scale chosen by the caller, so that gate and up of an expert can share one (checkpoint-formats.md §2.3), plus the
/// matching dequantisation and error sums.
/// </summary>
internal static class ExpertWeightQuantizer
{
    private const int BlockSize = CheckpointQuantization.GroupSize;

    /// <summary>The largest |w|; every value must be finite.</summary>
    /// <exception cref="InvalidDataException">A NaN or infinity; the message names the tensor and the element.</exception>
    public static float Amax(ReadOnlySpan<float> weights, string name)
    {
        float amax = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (!float.IsFinite(weights[i]))
            {
                throw new InvalidDataException($"Tensor '{name}' holds {weights[i]} at flat index {i}; weights must be finite to quantise.");
            }
            amax = MathF.Max(amax, MathF.Abs(weights[i]));
        }
        return amax;
    }

    /// <summary>Packed codes [N, K/2] and linear E4M3 scales [N, K/16] of a row-major [N, K] matrix.</summary>
    public static (byte[] Codes, byte[] Scales) Quantize(float[] weights, int rows, int columns, float globalScale)
    {
        var codes = new byte[(long)rows * columns / 2];
        var scales = new byte[(long)rows * columns / BlockSize];
        Parallel.For(0, rows, r => WeightBlockQuantizer.QuantizeRow(
            weights.AsSpan(r * columns, columns), globalScale,
            codes.AsSpan(r * (columns / 2), columns / 2), scales.AsSpan(r * (columns / BlockSize), columns / BlockSize)));
        return (codes, scales);
    }

    /// <summary>The dequantised matrix, ModelOpt's rule: w = fp32(value(code) · fp32(decode(scale) · S)).</summary>
    public static float[] Dequantize(byte[] codes, byte[] scales, int rows, int columns, float globalScale)
    {
        var result = new float[(long)rows * columns];
        Parallel.For(0, rows, r => WeightBlockQuantizer.DequantizeRow(
            codes.AsSpan(r * (columns / 2), columns / 2), scales.AsSpan(r * (columns / BlockSize), columns / BlockSize),
            globalScale, result.AsSpan(r * columns, columns)));
        return result;
    }

    /// <summary>Σ (w − ŵ)² and Σ w² in float64.</summary>
    public static (double Difference, double Norm) ErrorSums(ReadOnlySpan<float> original, ReadOnlySpan<float> dequantised)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < original.Length; i++)
        {
            double d = (double)original[i] - dequantised[i];
            difference += d * d;
            norm += (double)original[i] * original[i];
        }
        return (difference, norm);
    }
}
