using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.B12x.Formats;

/// <summary>
/// The 4-bit E2M1 element format of NVFP4 (OCP Microscaling spec, "FP4 E2M1"): bit 3 is the sign, bits 2..0 index
/// the magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}. Two codes share a byte: element 2j in bits 3..0, element 2j+1 in
/// bits 7..4 (the order PTX <c>cvt.rn.satfinite.e2m1x2.f32</c> and every NVFP4 producer use).
/// </summary>
public static class E2M1
{
    /// <summary>Largest finite magnitude.</summary>
    public const float MaxValue = 6f;

    /// <summary>The code with the sign bit set and magnitude 0 (negative zero).</summary>
    public const byte NegativeZero = 8;

    // Decision points between adjacent magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}, named after the even code a tie goes to.
    private const float TieTo0 = 0.25f;
    private const float TieTo2 = 0.75f;
    private const float TieTo2Above = 1.25f;
    private const float TieTo4 = 1.75f;
    private const float TieTo4Above = 2.5f;
    private const float TieTo6 = 3.5f;
    private const float TieTo6Above = 5f;

    private static readonly float[] s_values =
    {
        0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f,
        -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f,
    };

    /// <summary>The sixteen decoded values, indexed by code.</summary>
    public static ReadOnlySpan<float> Values => s_values;

    /// <summary>Decodes a code (only its low four bits are read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(int code) => s_values[code & 0xF];

    /// <summary>
    /// Encodes to the nearest code; a tie goes to the even code (0.25→0, 0.75→1, 1.25→1, 1.75→2, 2.5→2, 3.5→4, 5→4);
    /// magnitudes above 6 saturate to ±6; a negative value that rounds to magnitude 0 keeps its sign (code 8).
    /// NaN encodes to +0 (the operator turns rows with non-finite input into NaN before this matters).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Encode(float value)
    {
        // The magnitude index counts the decision points passed (see Encode(Vector128)); branch-free, because the
        // codes of real data are unpredictable.
        float a = MathF.Abs(value);
        int magnitude =
            (a > TieTo0 ? 1 : 0) + (a >= TieTo2 ? 1 : 0) + (a > TieTo2Above ? 1 : 0) + (a >= TieTo4 ? 1 : 0) +
            (a > TieTo4Above ? 1 : 0) + (a >= TieTo6 ? 1 : 0) + (a > TieTo6Above ? 1 : 0);
        return (byte)(magnitude | (float.IsNegative(value) && !float.IsNaN(value) ? 8 : 0));
    }

    /// <summary>
    /// Encodes four values with exactly the rules of <see cref="Encode(float)"/>: the magnitude index is the number
    /// of decision points passed, strictly above the ties that round down to an even code (0.25, 1.25, 2.5, 5) and
    /// at or above those that round up to one (0.75, 1.75, 3.5); NaN passes none and loses its sign.
    /// </summary>
    /// <returns>The four codes, one per 32-bit lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> Encode(Vector128<float> values)
    {
        Vector128<float> a = Vector128.Abs(values);
        // Comparison masks are all ones (-1 as an integer) where true, so subtracting them counts.
        Vector128<int> magnitude = Vector128<int>.Zero
            - Vector128.GreaterThan(a, Vector128.Create(TieTo0)).AsInt32()
            - Vector128.GreaterThanOrEqual(a, Vector128.Create(TieTo2)).AsInt32()
            - Vector128.GreaterThan(a, Vector128.Create(TieTo2Above)).AsInt32()
            - Vector128.GreaterThanOrEqual(a, Vector128.Create(TieTo4)).AsInt32()
            - Vector128.GreaterThan(a, Vector128.Create(TieTo4Above)).AsInt32()
            - Vector128.GreaterThanOrEqual(a, Vector128.Create(TieTo6)).AsInt32()
            - Vector128.GreaterThan(a, Vector128.Create(TieTo6Above)).AsInt32();
        Vector128<uint> sign = (values.AsUInt32() >>> 31) << 3;
        Vector128<uint> notNaN = Vector128.Equals(values, values).AsUInt32();
        return magnitude.AsUInt32() | (sign & notNaN);
    }

    /// <summary>Packs two codes into a byte: <paramref name="even"/> in the low nibble.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Pack(int even, int odd) => (byte)((even & 0xF) | ((odd & 0xF) << 4));

    /// <summary>The code of element <paramref name="index"/> of a packed row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CodeAt(ReadOnlySpan<byte> packed, int index) => (packed[index >> 1] >> ((index & 1) << 2)) & 0xF;

    /// <summary>Encodes <paramref name="values"/> (even length) into <paramref name="packed"/> (half the length).</summary>
    public static void EncodePacked(ReadOnlySpan<float> values, Span<byte> packed)
    {
        if ((values.Length & 1) != 0)
        {
            throw new ArgumentException($"Expected an even number of values, got {values.Length}.", nameof(values));
        }
        if (packed.Length < values.Length / 2)
        {
            throw new ArgumentException($"Expected at least {values.Length / 2} bytes, got {packed.Length}.", nameof(packed));
        }
        for (int j = 0; j < values.Length / 2; j++)
        {
            packed[j] = Pack(Encode(values[2 * j]), Encode(values[2 * j + 1]));
        }
    }

    /// <summary>Decodes <paramref name="packed"/> into <paramref name="values"/> (twice the length).</summary>
    public static void DecodePacked(ReadOnlySpan<byte> packed, Span<float> values)
    {
        if (values.Length < packed.Length * 2)
        {
            throw new ArgumentException($"Expected room for {packed.Length * 2} values, got {values.Length}.", nameof(values));
        }
        for (int j = 0; j < packed.Length; j++)
        {
            values[2 * j] = s_values[packed[j] & 0xF];
            values[2 * j + 1] = s_values[packed[j] >> 4];
        }
    }
}
