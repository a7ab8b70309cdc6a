using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Quantization;

/// <summary>
/// The operator's activation quantiser (semantics.md, step 1; also step 4 with gs2): each block of 16 values gets
/// an E4M3 scale and sixteen E2M1 codes, computed in float32 with every operation rounded:
/// <code>
/// amax = max |v|;  d = fp32(6·gs);  s = fp32(amax / d);  s = min(s, 448);  sb = E4M3(s);  q = decode(sb)
/// q ≠ 0:  p = fp32(q·gs);  m = fp32(1 / p);  code_i = E2M1(fp32(v_i·m))        q = 0:  every code 0
/// </code>
/// The block's values in the operator's units are x̂_i = value(code_i)·q (exact); the global scale gs is applied
/// later, folded into alpha. Every backend must produce these codes and scale bytes bit for bit. Non-finite elements
/// (which the operator never feeds in from x, see semantics.md step 7): NaN is left out of amax and gets code 0,
/// ±Inf saturates the scale at 448 and gets code ±6.
/// </summary>
public static class ActivationBlockQuantizer
{
    /// <summary>Elements per block (NVFP4).</summary>
    public const int BlockSize = 16;

    /// <summary>
    /// Quantises one block of <see cref="BlockSize"/> values with global scale <paramref name="globalScale"/>.
    /// </summary>
    /// <param name="block">The 16 values (float32).</param>
    /// <param name="globalScale">gs: finite and &gt; 0.</param>
    /// <param name="codes">Receives the 16 E2M1 codes, one per byte (low nibble).</param>
    /// <returns>The E4M3 scale byte sb (q = decode(sb)).</returns>
    public static byte QuantizeBlock(ReadOnlySpan<float> block, float globalScale, Span<byte> codes)
    {
        if (block.Length != BlockSize)
        {
            throw new ArgumentException($"Expected a block of {BlockSize} values, got {block.Length}.", nameof(block));
        }
        if (codes.Length < BlockSize)
        {
            throw new ArgumentException($"Expected room for {BlockSize} codes, got {codes.Length}.", nameof(codes));
        }
        return QuantizeBlockCore(block, globalScale, codes);
    }

    /// <summary>
    /// Quantises a row (length a multiple of 16) into packed codes (element 2j in the low nibble of byte j) and
    /// one scale byte per block.
    /// </summary>
    /// <param name="values">The row, float32, length C (a multiple of 16).</param>
    /// <param name="globalScale">gs: finite and &gt; 0.</param>
    /// <param name="packedCodes">Receives C/2 bytes.</param>
    /// <param name="scales">Receives C/16 E4M3 bytes.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(ReadOnlySpan<float> values, float globalScale, Span<byte> packedCodes, Span<byte> scales)
    {
        int blocks = CheckRow(values.Length);
        if (packedCodes.Length < values.Length / 2)
        {
            throw new ArgumentException($"Expected room for {values.Length / 2} packed bytes, got {packedCodes.Length}.", nameof(packedCodes));
        }
        if (scales.Length < blocks)
        {
            throw new ArgumentException($"Expected room for {blocks} scale bytes, got {scales.Length}.", nameof(scales));
        }
        Span<byte> codes = stackalloc byte[BlockSize];
        for (int b = 0; b < blocks; b++)
        {
            scales[b] = QuantizeBlockCore(values.Slice(b * BlockSize, BlockSize), globalScale, codes);
            Span<byte> packed = packedCodes.Slice(b * (BlockSize / 2), BlockSize / 2);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                packed[j] = E2M1.Pack(codes[2 * j], codes[2 * j + 1]);
            }
        }
    }

    /// <summary>
    /// Quantises a row and writes the values the operator computes with: x̂_i = value(code_i)·q, exact in float32
    /// (without the global scale).
    /// </summary>
    /// <param name="values">The row, float32, length C (a multiple of 16).</param>
    /// <param name="globalScale">gs: finite and &gt; 0.</param>
    /// <param name="quantized">Receives the C values x̂.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeToBlockValues(ReadOnlySpan<float> values, float globalScale, Span<float> quantized)
    {
        int blocks = CheckRow(values.Length);
        if (quantized.Length < values.Length)
        {
            throw new ArgumentException($"Expected room for {values.Length} values, got {quantized.Length}.", nameof(quantized));
        }
        Span<byte> codes = stackalloc byte[BlockSize];
        ReadOnlySpan<float> e2m1 = E2M1.Values;
        for (int b = 0; b < blocks; b++)
        {
            float q = E4M3.Decode(QuantizeBlockCore(values.Slice(b * BlockSize, BlockSize), globalScale, codes));
            Span<float> destination = quantized.Slice(b * BlockSize, BlockSize);
            for (int i = 0; i < BlockSize; i++)
            {
                destination[i] = e2m1[codes[i]] * q;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte QuantizeBlockCore(ReadOnlySpan<float> block, float globalScale, Span<byte> codes)
    {
        // A NaN element is left out of amax (like CUDA's fmaxf) and encodes to code 0; an infinite one saturates
        // the scale at 448 and its code at ±6.
        float amax = 0f;
        for (int i = 0; i < BlockSize; i++)
        {
            float magnitude = MathF.Abs(block[i]);
            amax = magnitude > amax ? magnitude : amax;
        }
        float d = E2M1.MaxValue * globalScale;
        float s = amax / d;
        s = MathF.Min(s, E4M3.MaxValue);
        byte scaleByte = E4M3.Encode(s);
        float q = E4M3.Decode(scaleByte);
        if (q == 0f)
        {
            codes.Slice(0, BlockSize).Clear();
            return scaleByte;
        }
        float p = q * globalScale;
        float m = 1f / p;
        if (Vector128.IsHardwareAccelerated)
        {
            // Same rounded product and the same encoding per lane as the scalar loop below.
            Vector128<float> factor = Vector128.Create(m);
            Vector128<uint> c0 = E2M1.Encode(Vector128.Create(block.Slice(0, 4)) * factor);
            Vector128<uint> c1 = E2M1.Encode(Vector128.Create(block.Slice(4, 4)) * factor);
            Vector128<uint> c2 = E2M1.Encode(Vector128.Create(block.Slice(8, 4)) * factor);
            Vector128<uint> c3 = E2M1.Encode(Vector128.Create(block.Slice(12, 4)) * factor);
            Vector128.Narrow(Vector128.Narrow(c0, c1), Vector128.Narrow(c2, c3)).CopyTo(codes);
            return scaleByte;
        }
        for (int i = 0; i < BlockSize; i++)
        {
            codes[i] = E2M1.Encode(block[i] * m);
        }
        return scaleByte;
    }

    private static int CheckRow(int length)
    {
        if (length % BlockSize != 0)
        {
            throw new ArgumentException($"Expected a row length that is a multiple of {BlockSize}, got {length}.", "values");
        }
        return length / BlockSize;
    }
}
