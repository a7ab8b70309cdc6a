using System;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Quantization;

/// <summary>
/// ModelOpt's NVFP4 weight recipe on spans (checkpoint-formats.md §1; ModelOpt <c>NVFP4QTensor</c>), in float32
/// with every operation rounded:
/// <code>
/// S  = fp32(amax / 2688)                                   per matrix (2688 = 6·448), 1 when that is 0
/// sb = E4M3(clamp(s == 0 ? 1 : s, 2^-9, 448)),  s = fp32(block_amax / fp32(6·S))
/// code_i = E2M1(fp32(v_i / fp32(decode(sb)·S)))
/// </code>
/// </summary>
internal static class WeightBlockQuantizer
{
    /// <summary>E2M1 maximum (6) times E4M3 maximum (448): ModelOpt's weight_scale_2 = amax / (6·448).</summary>
    public const float GlobalScaleDivisor = E2M1.MaxValue * E4M3.MaxValue;

    private const int BlockSize = ActivationBlockQuantizer.BlockSize;

    /// <summary>
    /// The global scale S of a matrix whose largest magnitude is <paramref name="amax"/> (finite, ≥ 0). An all-zero
    /// matrix (or one so small that the quotient underflows to 0) gets S = 1, so no block scale divides by zero; its
    /// blocks then get the edge scale and codes that dequantise to (nearly) zero.
    /// </summary>
    public static float GlobalScale(float amax)
    {
        float scale = amax / GlobalScaleDivisor;
        return scale > 0f ? scale : 1f;
    }

    /// <summary>The E4M3 block-scale byte of a block whose largest magnitude is <paramref name="blockAmax"/>.</summary>
    public static byte BlockScale(float blockAmax, float globalScale)
    {
        float s = blockAmax / (E2M1.MaxValue * globalScale);
        if (s == 0f)
        {
            s = 1f; // ModelOpt: a zero block scale becomes 1.0 before the clamp
        }
        return E4M3.Encode(Math.Clamp(s, E4M3.MinSubnormal, E4M3.MaxValue));
    }

    /// <summary>Quantises one row (length a multiple of 16) into packed codes and linear scale bytes.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, float globalScale, Span<byte> packedCodes, Span<byte> scales)
    {
        int blocks = row.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> block = row.Slice(b * BlockSize, BlockSize);
            float blockAmax = 0f;
            for (int i = 0; i < BlockSize; i++)
            {
                blockAmax = MathF.Max(blockAmax, MathF.Abs(block[i]));
            }
            byte scaleByte = BlockScale(blockAmax, globalScale);
            scales[b] = scaleByte;
            float divisor = E4M3.Decode(scaleByte) * globalScale;
            Span<byte> packed = packedCodes.Slice(b * (BlockSize / 2), BlockSize / 2);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                packed[j] = E2M1.Pack(E2M1.Encode(block[2 * j] / divisor), E2M1.Encode(block[2 * j + 1] / divisor));
            }
        }
    }

    /// <summary>Dequantises one row: w_i = fp32(value(code_i) · fp32(decode(sb)·S)), as ModelOpt does.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packedCodes, ReadOnlySpan<byte> scales, float globalScale, Span<float> row)
    {
        int blocks = row.Length / BlockSize;
        ReadOnlySpan<float> e2m1 = E2M1.Values;
        for (int b = 0; b < blocks; b++)
        {
            float scale = E4M3.Decode(scales[b]) * globalScale;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte pair = packedCodes[b * (BlockSize / 2) + j];
                row[b * BlockSize + 2 * j] = e2m1[pair & 0xF] * scale;
                row[b * BlockSize + 2 * j + 1] = e2m1[pair >> 4] * scale;
            }
        }
    }
}
