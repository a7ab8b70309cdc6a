using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Formats;

/// <summary>
/// The 8-bit E4M3 "FN" format of NVFP4 block scales (OCP 8-bit floating point spec; torch.float8_e4m3fn,
/// safetensors F8_E4M3): sign bit 7, 4 exponent bits with bias 7, 3 mantissa bits, no infinities, bytes 0x7F and 0xFF
/// are NaN, largest finite value 448, subnormals m/8·2^-6.
/// </summary>
public static class E4M3
{
    /// <summary>Largest finite value (exponent field 15, mantissa 6).</summary>
    public const float MaxValue = 448f;

    /// <summary>Smallest positive subnormal value, 2^-9.</summary>
    public const float MinSubnormal = 1f / 512f;

    /// <summary>The byte of the largest finite value.</summary>
    public const byte MaxValueByte = 0x7E;

    /// <summary>The canonical NaN byte.</summary>
    public const byte NaNByte = 0x7F;

    private static readonly float[] s_decoded = BuildTable();

    /// <summary>Decodes a byte exactly (subnormals included; bit 7 set means negative).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte value) => s_decoded[value];

    /// <summary>The 256 decoded values, indexed by byte.</summary>
    public static ReadOnlySpan<float> Table => s_decoded;

    /// <summary>
    /// Encodes with round-to-nearest-even, saturating finite magnitudes above 448 (and infinities) to ±448.
    /// NaN encodes to 0x7F. Negative zero encodes to 0x80.
    /// </summary>
    public static byte Encode(float value)
    {
        if (float.IsNaN(value))
        {
            return NaNByte;
        }
        byte sign = float.IsNegative(value) ? (byte)0x80 : (byte)0;
        double a = Math.Abs((double)value);
        if (a >= MaxValue)
        {
            return (byte)(sign | MaxValueByte);
        }
        if (a < 1.0 / 64.0)
        {
            // Subnormal range: multiples of 2^-9. Scaling by a power of two is exact, so this rounds the true value.
            int m = (int)Math.Round(a * 512.0, MidpointRounding.ToEven);
            return (byte)(sign | m); // m == 8 is the smallest normal, byte 0x08, by construction of the encoding
        }
        int exponent = Math.ILogB(a); // exact floor(log2 a) for a normal double
        double ulp = Math.ScaleB(1.0, exponent - 3);
        double steps = Math.Round(a / ulp, MidpointRounding.ToEven); // in [8, 16]
        if (steps >= 16)
        {
            steps = 8;
            exponent++;
        }
        int field = exponent + 7;
        int mantissa = (int)steps - 8;
        if (field > 15 || (field == 15 && mantissa > 6))
        {
            return (byte)(sign | MaxValueByte);
        }
        return (byte)(sign | (field << 3) | mantissa);
    }

    private static float[] BuildTable()
    {
        var table = new float[256];
        for (int b = 0; b < 256; b++)
        {
            int field = (b >> 3) & 0xF;
            int mantissa = b & 7;
            double magnitude = field == 0
                ? mantissa / 8.0 * Math.ScaleB(1.0, -6)
                : (1 + mantissa / 8.0) * Math.ScaleB(1.0, field - 7);
            if (field == 15 && mantissa == 7)
            {
                magnitude = double.NaN;
            }
            table[b] = (float)((b & 0x80) != 0 ? -magnitude : magnitude);
        }
        return table;
    }
}
