using System;
using Microsoft.ML.B12x.Formats;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Formats;

[TestClass]
public sealed class E2M1Tests
{
    // The E2M1 table written out from the format definition: bit 3 sign, bits 2..0 index {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    private static readonly float[] s_expected =
    {
        0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f,
        -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f,
    };

    [TestMethod]
    public void DecodeGivesTheSixteenValuesOfTheFormat()
    {
        for (int code = 0; code < 16; code++)
        {
            float actual = E2M1.Decode(code);
            Assert.AreEqual(BitConverter.SingleToInt32Bits(s_expected[code]), BitConverter.SingleToInt32Bits(actual), $"code {code}");
        }
    }

    [TestMethod]
    public void DecodeReadsOnlyTheLowNibble()
    {
        Assert.AreEqual(-6f, E2M1.Decode(0xAF));
        Assert.AreEqual(0.5f, E2M1.Decode(0x31));
    }

    [TestMethod]
    public void EncodeIsExactOnEveryRepresentableValue()
    {
        for (int code = 0; code < 16; code++)
        {
            Assert.AreEqual(code, E2M1.Encode(s_expected[code]), $"value {s_expected[code]}");
        }
    }

    [TestMethod]
    [DataRow(0.25f, 0)]
    [DataRow(0.75f, 2)]
    [DataRow(1.25f, 2)]
    [DataRow(1.75f, 4)]
    [DataRow(2.5f, 4)]
    [DataRow(3.5f, 6)]
    [DataRow(5f, 6)]
    [DataRow(-0.25f, 8)]
    [DataRow(-0.75f, 10)]
    [DataRow(-1.25f, 10)]
    [DataRow(-1.75f, 12)]
    [DataRow(-2.5f, 12)]
    [DataRow(-3.5f, 14)]
    [DataRow(-5f, 14)]
    public void EncodeRoundsTiesToTheEvenCode(float value, int expectedCode)
    {
        Assert.AreEqual(expectedCode, E2M1.Encode(value));
    }

    [TestMethod]
    public void EncodeRoundsToNearestJustBesideEachTie()
    {
        float[] ties = { 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f };
        int[] below = { 0, 1, 2, 3, 4, 5, 6 };
        for (int i = 0; i < ties.Length; i++)
        {
            Assert.AreEqual(below[i], E2M1.Encode(MathF.BitDecrement(ties[i])), $"just below {ties[i]}");
            Assert.AreEqual(below[i] + 1, E2M1.Encode(MathF.BitIncrement(ties[i])), $"just above {ties[i]}");
            Assert.AreEqual(below[i] + 9, E2M1.Encode(-MathF.BitIncrement(ties[i])), $"just below {-ties[i]}");
        }
    }

    [TestMethod]
    [DataRow(6.5f, 7)]
    [DataRow(100f, 7)]
    [DataRow(float.MaxValue, 7)]
    [DataRow(float.PositiveInfinity, 7)]
    [DataRow(-7f, 15)]
    [DataRow(float.NegativeInfinity, 15)]
    public void EncodeSaturatesAtSix(float value, int expectedCode)
    {
        Assert.AreEqual(expectedCode, E2M1.Encode(value));
    }

    [TestMethod]
    [DataRow(-0f)]
    [DataRow(-0.1f)]
    [DataRow(-1e-30f)]
    public void NegativeValuesRoundingToZeroKeepTheirSign(float value)
    {
        Assert.AreEqual(8, E2M1.Encode(value));
    }

    [TestMethod]
    public void PositiveValuesRoundingToZeroGiveCodeZero()
    {
        Assert.AreEqual(0, E2M1.Encode(0.1f));
        Assert.AreEqual(0, E2M1.Encode(float.Epsilon));
    }

    [TestMethod]
    public void NaNEncodesToPositiveZero()
    {
        Assert.AreEqual(0, E2M1.Encode(float.NaN));
        Assert.AreEqual(0, E2M1.Encode(BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00000))));
    }

    [TestMethod]
    public void PackPutsTheEvenElementInTheLowNibble()
    {
        Assert.AreEqual(0x21, E2M1.Pack(1, 2));
        Assert.AreEqual(0xF8, E2M1.Pack(8, 15));
        Assert.AreEqual(0x0F, E2M1.Pack(0x1F, 0x10)); // only low nibbles are used
    }

    [TestMethod]
    public void EncodePackedMatchesHandWrittenBytes()
    {
        // elements: 0.5 (1), 1 (2) | -6 (15), 6 (7) | -0 (8), 3 (5) | 4 (6), -0.5 (9)
        float[] values = { 0.5f, 1f, -6f, 6f, -0f, 3f, 4f, -0.5f };
        var packed = new byte[4];
        E2M1.EncodePacked(values, packed);
        CollectionAssert.AreEqual(new byte[] { 0x21, 0x7F, 0x58, 0x96 }, packed);
    }

    [TestMethod]
    public void DecodePackedMatchesHandWrittenValues()
    {
        byte[] packed = { 0x21, 0x7F, 0x58, 0x96 };
        var values = new float[8];
        E2M1.DecodePacked(packed, values);
        CollectionAssert.AreEqual(new[] { 0.5f, 1f, -6f, 6f, -0f, 3f, 4f, -0.5f }, values);
        Assert.IsTrue(float.IsNegative(values[4]), "code 8 decodes to -0");
    }

    [TestMethod]
    public void CodeAtReadsEachNibbleOfARow()
    {
        byte[] packed = { 0x21, 0x7F, 0x58 };
        int[] expected = { 1, 2, 15, 7, 8, 5 };
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], E2M1.CodeAt(packed, i), $"element {i}");
        }
    }

    [TestMethod]
    public void EncodePackedRejectsAnOddLength()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => E2M1.EncodePacked(new float[3], new byte[2]));
        Assert.AreEqual("values", error.ParamName);
    }

    [TestMethod]
    public void EncodePackedRejectsAShortDestination()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => E2M1.EncodePacked(new float[4], new byte[1]));
        Assert.AreEqual("packed", error.ParamName);
    }

    [TestMethod]
    public void DecodePackedRejectsAShortDestination()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => E2M1.DecodePacked(new byte[2], new float[3]));
        Assert.AreEqual("values", error.ParamName);
    }

    [TestMethod]
    public void VectorEncodeMatchesScalarEncodeOnTiesSpecialsAndRandomValues()
    {
        var values = new System.Collections.Generic.List<float>
        {
            0f, -0f, float.Epsilon, -float.Epsilon, float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, 6f, 6.5f, 1e30f,
        };
        foreach (float tie in new[] { 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f, 0.5f, 1f, 1.5f, 2f, 3f, 4f })
        {
            foreach (float v in new[] { tie, MathF.BitIncrement(tie), MathF.BitDecrement(tie) })
            {
                values.Add(v);
                values.Add(-v);
            }
        }
        var random = new Random(4);
        for (int i = 0; i < 4000; i++)
        {
            values.Add((float)((random.NextDouble() * 2 - 1) * 8));
        }
        while (values.Count % 4 != 0)
        {
            values.Add(1f);
        }
        for (int i = 0; i < values.Count; i += 4)
        {
            var codes = E2M1.Encode(System.Runtime.Intrinsics.Vector128.Create(values[i], values[i + 1], values[i + 2], values[i + 3]));
            for (int j = 0; j < 4; j++)
            {
                Assert.AreEqual((uint)E2M1.Encode(values[i + j]), codes[j], $"value {values[i + j]:R}");
            }
        }
    }
}
