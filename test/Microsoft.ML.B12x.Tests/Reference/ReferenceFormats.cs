using System;

namespace Microsoft.ML.B12x.Tests.Reference;

/// <summary>
/// The number formats written again from their definitions, for tests only: nearest-value searches instead of the
/// library's arithmetic, so that a bug in one is not repeated in the other. Slow and simple on purpose.
/// </summary>
internal static class ReferenceFormats
{
    private static readonly double[] s_e2m1Magnitudes = { 0, 0.5, 1, 1.5, 2, 3, 4, 6 };

    /// <summary>The value of an E2M1 code: bit 3 sign, bits 2..0 index {0, 0.5, 1, 1.5, 2, 3, 4, 6}.</summary>
    public static float E2M1Value(int code)
    {
        double magnitude = s_e2m1Magnitudes[code & 7];
        return (float)((code & 8) != 0 ? -magnitude : magnitude);
    }

    /// <summary>Nearest E2M1 code, ties to the even code, saturating at ±6, the sign kept for values rounding to 0; NaN gives 0.</summary>
    public static int E2M1Round(float value)
    {
        if (float.IsNaN(value))
        {
            return 0;
        }
        double a = Math.Abs((double)value);
        int best = 0;
        for (int m = 1; m < 8; m++)
        {
            double distance = Math.Abs(a - s_e2m1Magnitudes[m]);
            double bestDistance = Math.Abs(a - s_e2m1Magnitudes[best]);
            if (distance < bestDistance || (distance == bestDistance && m % 2 == 0))
            {
                best = m;
            }
        }
        return float.IsNegative(value) ? best | 8 : best;
    }

    /// <summary>The value of an E4M3 (FN) byte from its bit fields; 0x7F and 0xFF are NaN.</summary>
    public static float E4M3Value(int b)
    {
        int exponent = (b >> 3) & 0xF, mantissa = b & 7;
        if (exponent == 15 && mantissa == 7)
        {
            return float.NaN;
        }
        double magnitude = exponent == 0 ? mantissa * Math.Pow(2, -9) : (8 + mantissa) * Math.Pow(2, exponent - 10);
        return (float)((b & 0x80) != 0 ? -magnitude : magnitude);
    }

    /// <summary>Nearest E4M3 byte, ties to the even mantissa, saturating at ±448; NaN gives 0x7F.</summary>
    public static byte E4M3Round(float value)
    {
        if (float.IsNaN(value))
        {
            return 0x7F;
        }
        double a = Math.Abs((double)value);
        int best = 0;
        for (int b = 1; b <= 0x7E; b++)
        {
            double distance = Math.Abs(a - E4M3Value(b));
            double bestDistance = Math.Abs(a - E4M3Value(best));
            if (distance < bestDistance || (distance == bestDistance && b % 2 == 0))
            {
                best = b;
            }
        }
        return (byte)(float.IsNegative(value) ? best | 0x80 : best);
    }

    /// <summary>Nearest bfloat16 (as a float), ties to even; NaN stays NaN; overflow goes to infinity.</summary>
    public static float BFloat16Round(float value)
    {
        if (float.IsNaN(value) || float.IsInfinity(value))
        {
            return value;
        }
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint down = bits & 0xFFFF_0000u;
        uint up = down + 0x1_0000u;
        double downValue = BitConverter.UInt32BitsToSingle(down);
        double upValue = (up & 0x7FFF_FFFFu) == 0x7F80_0000u
            ? Math.CopySign(Math.Pow(2, 128), value) // the first value past the largest finite one
            : BitConverter.UInt32BitsToSingle(up);
        double toDown = Math.Abs(value - downValue), toUp = Math.Abs(upValue - value);
        bool takeUp = toUp < toDown || (toUp == toDown && (down & 0x1_0000u) != 0);
        return takeUp ? BitConverter.UInt32BitsToSingle(up) : BitConverter.UInt32BitsToSingle(down);
    }
}
