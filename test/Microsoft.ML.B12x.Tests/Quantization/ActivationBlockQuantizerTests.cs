using System;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Quantization;

[TestClass]
public sealed class ActivationBlockQuantizerTests
{
    private static (byte Scale, byte[] Codes) Quantize(float[] block, float gs)
    {
        var codes = new byte[16];
        byte scale = ActivationBlockQuantizer.QuantizeBlock(block, gs, codes);
        return (scale, codes);
    }

    [TestMethod]
    public void UnitScaleBlockOfAllE2M1ValuesGivesTheirCodes()
    {
        float[] block = { 0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f };
        (byte scale, byte[] codes) = Quantize(block, 1f);
        Assert.AreEqual(0x38, scale); // amax 6, d = 6, s = 1.0
        for (int i = 0; i < 16; i++)
        {
            Assert.AreEqual(i, codes[i], $"element {i}");
        }
    }

    [TestMethod]
    public void HandAssembledBlockGivesHandComputedBytes()
    {
        // gs = 0.25: amax 3, d = 1.5, s = 2 -> byte 0x40, q = 2, p = 0.5, m = 2; codes of 2v (ties to even):
        // 6 -> 7, -6 -> 15, 1.4 -> 3, 0.25 -> 0, 0.75 -> 2, 2.5 -> 4, 3.5 -> 6, -0.2 -> 8,
        // 5 -> 6, 0.6 -> 1, 2 -> 4, 1.6 -> 3, -2.2 -> 12, 3.2 -> 5, -0 -> 8, 0 -> 0.
        float[] block = { 3f, -3f, 0.7f, 0.125f, 0.375f, 1.25f, 1.75f, -0.1f, 2.5f, 0.3f, 1f, 0.8f, -1.1f, 1.6f, -0f, 0f };
        var packed = new byte[8];
        var scales = new byte[1];
        ActivationBlockQuantizer.QuantizeRow(block, 0.25f, packed, scales);
        Assert.AreEqual(0x40, scales[0]);
        CollectionAssert.AreEqual(new byte[] { 0xF7, 0x03, 0x42, 0x86, 0x16, 0x34, 0x5C, 0x08 }, packed);
    }

    [TestMethod]
    public void ScaleSaturatesAt448WhenTheGlobalScaleIsTooSmall()
    {
        // gs = 2^-10, amax 6: s = 1024 -> min(s, 448) = 448 (0x7E); p = 0.4375, m = fp32(1/0.4375) = 2.2857144.
        float[] block = new float[16];
        block[0] = 6f;      // 13.7 -> saturates to 6 (7)
        block[1] = 0.25f;   // 0.571 -> 0.5 (1)
        block[2] = -1f;     // -2.29 -> -2 (12)
        block[3] = 1.4f;    // 3.2 -> 3 (5)
        (byte scale, byte[] codes) = Quantize(block, 1f / 1024f);
        Assert.AreEqual(0x7E, scale);
        CollectionAssert.AreEqual(new byte[] { 7, 1, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, codes);
    }

    [TestMethod]
    public void SmallBlockGetsASubnormalScale()
    {
        // gs = 1, amax 0.03: s = 0.005 -> 2.56/512 -> byte 0x03 (3/512); m = fp32(512/3) = 170.66667.
        float[] block = new float[16];
        block[0] = 0.03f;   // 5.12 -> 6 (7)
        block[1] = 0.01f;   // 1.707 -> 1.5 (3)
        block[2] = -0.005f; // -0.853 -> -1 (10)
        (byte scale, byte[] codes) = Quantize(block, 1f);
        Assert.AreEqual(0x03, scale);
        Assert.AreEqual(7, codes[0]);
        Assert.AreEqual(3, codes[1]);
        Assert.AreEqual(10, codes[2]);
    }

    [TestMethod]
    public void AllZeroBlockGivesZeroScaleAndZeroCodes()
    {
        (byte scale, byte[] codes) = Quantize(new float[16], 0.5f);
        Assert.AreEqual(0, scale);
        CollectionAssert.AreEqual(new byte[16], codes);
    }

    [TestMethod]
    public void BlockWhoseScaleRoundsToZeroGivesZeroCodesEvenForNegativeValues()
    {
        // s = 1e-4 / 6 = 1.7e-5 < 2^-10: the scale byte is 0, so every code is 0 (not 8 for the negative ones).
        float[] block = new float[16];
        block[0] = 1e-4f;
        block[1] = -1e-4f;
        (byte scale, byte[] codes) = Quantize(block, 1f);
        Assert.AreEqual(0, scale);
        CollectionAssert.AreEqual(new byte[16], codes);
    }

    [TestMethod]
    public void NegativeValuesRoundingToZeroGiveCode8WhenTheScaleIsNonZero()
    {
        float[] block = new float[16];
        block[0] = 6f;
        block[1] = -0.01f;
        (byte _, byte[] codes) = Quantize(block, 1f);
        Assert.AreEqual(8, codes[1]);
        Assert.AreEqual(0, codes[2]);
    }

    [TestMethod]
    public void NaNElementsAreLeftOutOfAmaxAndGetCodeZero()
    {
        float[] block = new float[16];
        block[0] = float.NaN;
        block[1] = 3f;
        block[2] = -1.5f;
        (byte scale, byte[] codes) = Quantize(block, 0.5f);
        Assert.AreEqual(0x38, scale); // amax 3 from the finite elements: d = 3, s = 1, m = 1 / 0.5 = 2
        Assert.AreEqual(0, codes[0]);
        Assert.AreEqual(7, codes[1]);  // 6
        Assert.AreEqual(13, codes[2]); // -3
    }

    [TestMethod]
    public void InfiniteElementsSaturateTheScaleAndTheirCode()
    {
        float[] block = new float[16];
        block[0] = float.NegativeInfinity;
        block[1] = 1f;
        (byte scale, byte[] codes) = Quantize(block, 1f);
        Assert.AreEqual(0x7E, scale);
        Assert.AreEqual(15, codes[0]);
        Assert.AreEqual(0, codes[1]); // 1 / 448 rounds to 0
    }

    [TestMethod]
    public void MatchesTheReferenceQuantiserOnRandomBlocksOfEveryMagnitude()
    {
        var random = new Random(1126);
        var block = new float[16];
        var codes = new byte[16];
        int subnormalScales = 0, saturatedScales = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            float gs = (float)Math.Pow(2, random.NextDouble() * 30 - 20);
            float magnitude = (float)Math.Pow(2, random.NextDouble() * 40 - 25);
            for (int i = 0; i < 16; i++)
            {
                block[i] = (float)(random.NextDouble() * 2 - 1) * magnitude;
            }
            byte scale = ActivationBlockQuantizer.QuantizeBlock(block, gs, codes);
            (byte expectedScale, int[] expectedCodes) = ReferenceQuantizer.QuantizeBlock(block, gs);
            Assert.AreEqual(expectedScale, scale, $"trial {trial}: gs {gs:R}");
            for (int i = 0; i < 16; i++)
            {
                Assert.AreEqual(expectedCodes[i], codes[i], $"trial {trial}, element {i}");
            }
            subnormalScales += scale is > 0 and < 8 ? 1 : 0;
            saturatedScales += scale == 0x7E ? 1 : 0;
        }
        Assert.IsGreaterThan(50, subnormalScales, "subnormal scales exercised");
        Assert.IsGreaterThan(50, saturatedScales, "saturated scales exercised");
    }

    [TestMethod]
    public void QuantizeToBlockValuesGivesCodeValueTimesBlockScale()
    {
        var random = new Random(5);
        var row = new float[64];
        for (int i = 0; i < row.Length; i++)
        {
            row[i] = (float)(random.NextDouble() * 8 - 4) * (i < 16 ? 1e-3f : 1f);
        }
        var values = new float[64];
        ActivationBlockQuantizer.QuantizeToBlockValues(row, 0.01f, values);
        CollectionAssert.AreEqual(ReferenceQuantizer.QuantizeToBlockValues(row, 0.01f), values);

        var packed = new byte[32];
        var scales = new byte[4];
        ActivationBlockQuantizer.QuantizeRow(row, 0.01f, packed, scales);
        for (int i = 0; i < 64; i++)
        {
            int code = (packed[i / 2] >> (4 * (i % 2))) & 0xF;
            Assert.AreEqual(ReferenceFormats.E2M1Value(code) * ReferenceFormats.E4M3Value(scales[i / 16]), values[i], $"element {i}");
        }
    }

    [TestMethod]
    public void RejectsABlockOfTheWrongLength()
    {
        Assert.AreEqual("block", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeBlock(new float[15], 1f, new byte[16])).ParamName);
    }

    [TestMethod]
    public void RejectsARowThatIsNotWholeBlocks()
    {
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeRow(new float[24], 1f, new byte[12], new byte[2])).ParamName);
    }

    [TestMethod]
    public void RejectsShortDestinations()
    {
        Assert.AreEqual("codes", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeBlock(new float[16], 1f, new byte[8])).ParamName);
        Assert.AreEqual("packedCodes", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeRow(new float[32], 1f, new byte[8], new byte[2])).ParamName);
        Assert.AreEqual("scales", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeRow(new float[32], 1f, new byte[16], new byte[1])).ParamName);
        Assert.AreEqual("quantized", Assert.ThrowsExactly<ArgumentException>(
            () => ActivationBlockQuantizer.QuantizeToBlockValues(new float[32], 1f, new float[16])).ParamName);
    }
}
