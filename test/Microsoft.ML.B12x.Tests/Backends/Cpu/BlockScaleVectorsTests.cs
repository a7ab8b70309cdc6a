using System;
using System.Runtime.Intrinsics;
using Microsoft.ML.B12x.Backends.Cpu;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

[TestClass]
public sealed class BlockScaleVectorsTests
{
    [TestMethod]
    public void VectorDecodeOfEveryByteMatchesTheBitFields()
    {
        if (!CpuVectorIsaSelector.IsSupported(CpuVectorIsa.Avx2))
        {
            Assert.Inconclusive("The vector decoders need AVX2.");
        }
        for (int b = 0; b < 256; b += 4)
        {
            // Four bytes per lane: lane i holds bytes b..b+3; byte j of each group is decoded separately.
            int group = b | ((b + 1) << 8) | ((b + 2) << 16) | ((b + 3) << 24);
            for (int j = 0; j < 4; j++)
            {
                float expected = ReferenceFormats.E4M3Value(b + j);
                float narrow = BlockScaleVectors.Decode(Vector256.Create(group), j).GetElement(3);
                Check(b + j, expected, narrow, "256-bit");
                if (CpuVectorIsaSelector.IsSupported(CpuVectorIsa.Avx512))
                {
                    Check(b + j, expected, BlockScaleVectors.Decode(Vector512.Create(group), j).GetElement(11), "512-bit");
                }
            }
        }
    }

    [TestMethod]
    public void NaNBytesDecodeToTheTableBitsOfTheScalarPath()
    {
        if (!CpuVectorIsaSelector.IsSupported(CpuVectorIsa.Avx2))
        {
            Assert.Inconclusive("The vector decoders need AVX2.");
        }
        int group = 0x7F | (0xFF << 8);
        Assert.AreEqual(BitConverter.SingleToInt32Bits(Microsoft.ML.B12x.Formats.E4M3.Decode(0x7F)), BitConverter.SingleToInt32Bits(BlockScaleVectors.Decode(Vector256.Create(group), 0)[0]));
        Assert.AreEqual(BitConverter.SingleToInt32Bits(Microsoft.ML.B12x.Formats.E4M3.Decode(0xFF)), BitConverter.SingleToInt32Bits(BlockScaleVectors.Decode(Vector256.Create(group), 1)[0]));
    }

    private static void Check(int b, float expected, float actual, string width)
    {
        if (float.IsNaN(expected))
        {
            Assert.IsTrue(float.IsNaN(actual), $"{width}: byte 0x{b:X2} is NaN");
            return;
        }
        Assert.AreEqual(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual), $"{width}: byte 0x{b:X2}");
    }
}
