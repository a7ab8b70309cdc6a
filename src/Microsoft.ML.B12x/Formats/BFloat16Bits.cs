using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Formats;

/// <summary>Conversions between float and the raw 16 bits of bfloat16 (the top half of an IEEE binary32).</summary>
public static class BFloat16Bits
{
    /// <summary>Rounds to the nearest bfloat16, ties to even; NaN stays NaN (quiet), infinities stay infinite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return (ushort)((bits >> 16) | 0x0040); // NaN: keep sign and payload top, force quiet
        }
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Widens a bfloat16 to float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Rounds a float to the nearest bfloat16 value and returns it as a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float value) => ToSingle(FromSingle(value));

    /// <summary>Converts a span of floats to bfloat16 bits.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Expected room for {source.Length} values, got {destination.Length}.", nameof(destination));
        }
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = FromSingle(source[i]);
        }
    }

    /// <summary>Converts a span of bfloat16 bits to floats.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Expected room for {source.Length} values, got {destination.Length}.", nameof(destination));
        }
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = ToSingle(source[i]);
        }
    }
}
