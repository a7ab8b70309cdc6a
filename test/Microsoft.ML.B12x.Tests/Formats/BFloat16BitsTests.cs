using System;
using Microsoft.ML.B12x.Formats;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Formats;

[TestClass]
public sealed class BFloat16BitsTests
{
    private static float FromBits(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [TestMethod]
    [DataRow(0x3F80_8000u, (ushort)0x3F80)] // 1 + 2^-8: tie between 0x3F80 and 0x3F81 -> even 0x3F80
    [DataRow(0x3F81_8000u, (ushort)0x3F82)] // tie between 0x3F81 and 0x3F82 -> even 0x3F82
    [DataRow(0xBF81_8000u, (ushort)0xBF82)] // negative tie
    [DataRow(0x3F80_8001u, (ushort)0x3F81)] // just above a tie rounds up
    [DataRow(0x3F81_7FFFu, (ushort)0x3F81)] // just below a tie rounds down
    [DataRow(0x0000_8000u, (ushort)0x0000)] // subnormal tie -> even (zero)
    [DataRow(0x0001_8000u, (ushort)0x0002)] // subnormal tie -> even
    public void FromSingleRoundsToNearestEven(uint input, ushort expected)
    {
        Assert.AreEqual(expected, BFloat16Bits.FromSingle(FromBits(input)));
    }

    [TestMethod]
    public void FromSingleIsExactOnBFloat16Values()
    {
        for (uint high = 0; high < 0x10000; high += 7)
        {
            float value = FromBits(high << 16);
            if (float.IsNaN(value))
            {
                continue;
            }
            Assert.AreEqual((ushort)high, BFloat16Bits.FromSingle(value));
        }
    }

    [TestMethod]
    public void InfinitiesStayInfinite()
    {
        Assert.AreEqual((ushort)0x7F80, BFloat16Bits.FromSingle(float.PositiveInfinity));
        Assert.AreEqual((ushort)0xFF80, BFloat16Bits.FromSingle(float.NegativeInfinity));
    }

    [TestMethod]
    public void LargestFloatRoundsToInfinity()
    {
        Assert.AreEqual((ushort)0x7F80, BFloat16Bits.FromSingle(float.MaxValue));
        Assert.AreEqual((ushort)0x7F7F, BFloat16Bits.FromSingle(FromBits(0x7F7F_7FFFu)));
    }

    [TestMethod]
    [DataRow(0x7FC0_0000u)]
    [DataRow(0xFFC0_0000u)]
    [DataRow(0x7F80_0001u)] // payload only in the dropped half: must not become infinity
    [DataRow(0xFF80_0001u)]
    [DataRow(0x7FFF_FFFFu)] // rounding up would carry out of the exponent
    public void NaNStaysNaNAndKeepsItsSign(uint input)
    {
        ushort bits = BFloat16Bits.FromSingle(FromBits(input));
        Assert.IsTrue(float.IsNaN(BFloat16Bits.ToSingle(bits)), $"0x{input:X8} -> 0x{bits:X4}");
        Assert.AreEqual(input >> 31, (uint)bits >> 15, "sign");
        Assert.AreNotEqual(0, bits & 0x0040, "quiet bit");
    }

    [TestMethod]
    public void ToSingleWidensExactly()
    {
        Assert.AreEqual(1f, BFloat16Bits.ToSingle(0x3F80));
        Assert.AreEqual(-2f, BFloat16Bits.ToSingle(0xC000));
        Assert.AreEqual(FromBits(0x3F81_0000u), BFloat16Bits.ToSingle(0x3F81));
    }

    [TestMethod]
    public void RoundReturnsTheNearestBFloat16AsFloat()
    {
        Assert.AreEqual(1f, BFloat16Bits.Round(FromBits(0x3F80_8000u)));
        Assert.AreEqual(FromBits(0x3F82_0000u), BFloat16Bits.Round(FromBits(0x3F81_8000u)));
    }

    [TestMethod]
    public void SpanConversionsRoundTrip()
    {
        float[] values = { 1f, -2.5f, 3.140625f, 0f };
        var bits = new ushort[4];
        var back = new float[4];
        BFloat16Bits.FromSingle(values, bits);
        BFloat16Bits.ToSingle(bits, back);
        CollectionAssert.AreEqual(values, back);
    }

    [TestMethod]
    public void SpanConversionsRejectShortDestinations()
    {
        Assert.AreEqual("destination", Assert.ThrowsExactly<ArgumentException>(() => BFloat16Bits.FromSingle(new float[2], new ushort[1])).ParamName);
        Assert.AreEqual("destination", Assert.ThrowsExactly<ArgumentException>(() => BFloat16Bits.ToSingle(new ushort[2], new float[1])).ParamName);
    }
}
