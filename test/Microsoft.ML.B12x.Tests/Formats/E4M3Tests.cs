using System;
using System.Collections.Generic;
using Microsoft.ML.B12x.Formats;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Formats;

[TestClass]
public sealed class E4M3Tests
{
    /// <summary>The value of a byte from its bit fields (sign 1, exponent 4 with bias 7, mantissa 3), written from the OCP definition.</summary>
    private static double FromBitFields(int b)
    {
        int sign = b >> 7;
        int exponent = (b >> 3) & 0xF;
        int mantissa = b & 7;
        if (exponent == 15 && mantissa == 7)
        {
            return double.NaN;
        }
        double magnitude = exponent == 0
            ? mantissa / 8.0 * Math.Pow(2, -6)
            : (1 + mantissa / 8.0) * Math.Pow(2, exponent - 7);
        return sign == 1 ? -magnitude : magnitude;
    }

    /// <summary>The finite non-negative bytes in increasing order of value (0x00 .. 0x7E).</summary>
    private static IEnumerable<int> PositiveFiniteBytes()
    {
        for (int b = 0; b <= 0x7E; b++)
        {
            yield return b;
        }
    }

    [TestMethod]
    public void DecodeOfAll256BytesMatchesTheBitFields()
    {
        for (int b = 0; b < 256; b++)
        {
            double expected = FromBitFields(b);
            float actual = E4M3.Decode((byte)b);
            if (double.IsNaN(expected))
            {
                Assert.IsTrue(float.IsNaN(actual), $"byte 0x{b:X2} is NaN");
                continue;
            }
            Assert.AreEqual(expected, (double)actual, $"byte 0x{b:X2}");
            Assert.AreEqual(b >= 0x80, float.IsNegative(actual), $"sign of byte 0x{b:X2}");
        }
    }

    [TestMethod]
    public void OnlyBytes7FAndFFAreNaN()
    {
        for (int b = 0; b < 256; b++)
        {
            Assert.AreEqual(b == 0x7F || b == 0xFF, float.IsNaN(E4M3.Decode((byte)b)), $"byte 0x{b:X2}");
        }
    }

    [TestMethod]
    public void DecodeOfHandPickedBytes()
    {
        Assert.AreEqual(448f, E4M3.Decode(0x7E));
        Assert.AreEqual(-448f, E4M3.Decode(0xFE));
        Assert.AreEqual(1f, E4M3.Decode(0x38));
        Assert.AreEqual(1f / 512f, E4M3.Decode(0x01));
        Assert.AreEqual(7f / 512f, E4M3.Decode(0x07));
        Assert.AreEqual(1f / 64f, E4M3.Decode(0x08));
        Assert.AreEqual(0.125f, E4M3.Decode(0x20));
        Assert.AreEqual(240f, E4M3.Decode(0x77));
    }

    [TestMethod]
    public void TableHasTheSameValuesAsDecode()
    {
        Assert.AreEqual(256, E4M3.Table.Length);
        for (int b = 0; b < 256; b++)
        {
            Assert.AreEqual(BitConverter.SingleToInt32Bits(E4M3.Decode((byte)b)), BitConverter.SingleToInt32Bits(E4M3.Table[b]));
        }
    }

    [TestMethod]
    public void EncodeRoundTripsEveryFiniteByte()
    {
        for (int b = 0; b < 256; b++)
        {
            if (b == 0x7F || b == 0xFF)
            {
                continue;
            }
            Assert.AreEqual(b, E4M3.Encode(E4M3.Decode((byte)b)), $"byte 0x{b:X2}");
        }
    }

    [TestMethod]
    public void EncodeRoundsTiesBetweenAdjacentValuesToTheEvenMantissa()
    {
        int checkedTies = 0;
        int previous = -1;
        foreach (int b in PositiveFiniteBytes())
        {
            if (previous >= 0)
            {
                double low = FromBitFields(previous);
                double high = FromBitFields(b);
                float midpoint = (float)((low + high) / 2); // exact: at most five significant bits
                Assert.AreEqual((low + high) / 2, (double)midpoint);
                int even = (previous & 1) == 0 ? previous : b;
                Assert.AreEqual(even, E4M3.Encode(midpoint), $"tie between 0x{previous:X2} and 0x{b:X2}");
                Assert.AreEqual(even | 0x80, E4M3.Encode(-midpoint), $"negative tie between 0x{previous:X2} and 0x{b:X2}");
                Assert.AreEqual(previous, E4M3.Encode(MathF.BitDecrement(midpoint)), $"just below the tie above 0x{previous:X2}");
                Assert.AreEqual(b, E4M3.Encode(MathF.BitIncrement(midpoint)), $"just above the tie below 0x{b:X2}");
                checkedTies++;
            }
            previous = b;
        }
        Assert.AreEqual(126, checkedTies);
    }

    [TestMethod]
    [DataRow(1f / 1024f, 0x00)]      // half the smallest subnormal: tie to 0 (even)
    [DataRow(3f / 1024f, 0x02)]      // between 1/512 (0x01) and 2/512 (0x02): even
    [DataRow(5f / 1024f, 0x02)]      // between 2/512 and 3/512: even
    [DataRow(15f / 1024f, 0x08)]     // between 7/512 (largest subnormal) and 1/64 (smallest normal): even
    [DataRow(1.4f / 512f, 0x01)]
    [DataRow(1e-30f, 0x00)]
    [DataRow(float.Epsilon, 0x00)]
    public void EncodeRoundsSubnormalsToNearestEven(float value, int expected)
    {
        Assert.AreEqual(expected, E4M3.Encode(value));
        Assert.AreEqual(expected | 0x80, E4M3.Encode(-value));
    }

    [TestMethod]
    [DataRow(448f)]
    [DataRow(455f)]
    [DataRow(464f)]
    [DataRow(465f)]
    [DataRow(1e9f)]
    [DataRow(float.MaxValue)]
    [DataRow(float.PositiveInfinity)]
    public void EncodeSaturatesAt448(float value)
    {
        Assert.AreEqual(E4M3.MaxValueByte, E4M3.Encode(value));
        Assert.AreEqual(E4M3.MaxValueByte | 0x80, E4M3.Encode(-value));
    }

    [TestMethod]
    public void EncodeJustBelowTheMidpointUnder448RoundsDown()
    {
        // 416 (0x7D) and 448 (0x7E) are adjacent; their midpoint 432 goes to the even mantissa, 448 (mantissa 6).
        Assert.AreEqual(0x7E, E4M3.Encode(432f));
        Assert.AreEqual(0x7D, E4M3.Encode(MathF.BitDecrement(432f)));
    }

    [TestMethod]
    public void EncodeOfNaNGivesTheNaNByte()
    {
        Assert.AreEqual(0x7F, E4M3.Encode(float.NaN));
    }

    [TestMethod]
    public void EncodeKeepsTheSignOfZero()
    {
        Assert.AreEqual(0x00, E4M3.Encode(0f));
        Assert.AreEqual(0x80, E4M3.Encode(-0f));
    }

    [TestMethod]
    public void EncodeMatchesABruteForceNearestSearchOnManyValues()
    {
        var random = new Random(20261126);
        var candidates = new List<int>(PositiveFiniteBytes());
        for (int i = 0; i < 20000; i++)
        {
            float value = (float)Math.Pow(2, random.NextDouble() * 20 - 12) * (float)random.NextDouble();
            int best = -1;
            double bestDistance = double.PositiveInfinity;
            foreach (int b in candidates)
            {
                double distance = Math.Abs(FromBitFields(b) - value);
                if (distance < bestDistance || (distance == bestDistance && (b & 1) == 0))
                {
                    best = b;
                    bestDistance = distance;
                }
            }
            Assert.AreEqual(best, E4M3.Encode(value), $"value {value:R}");
        }
    }

    [TestMethod]
    public void ConstantsDescribeTheFormat()
    {
        Assert.AreEqual(448f, E4M3.MaxValue);
        Assert.AreEqual(E4M3.MinSubnormal, E4M3.Decode(0x01));
        Assert.AreEqual(448f, E4M3.Decode(E4M3.MaxValueByte));
    }
}
