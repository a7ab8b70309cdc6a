using System;
using System.Linq;
using Microsoft.ML.B12x.Backends.Cpu;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

[TestClass]
public sealed unsafe class WeightTileDecoderTests
{
    /// <summary>
    /// Every ISA level decodes every 16-row tile of a random matrix to value(code)·decode(scale), transposed, in both
    /// layouts; the column counts leave partial 4-block scale groups (3, 5 and 9 blocks per row).
    /// </summary>
    [TestMethod]
    [DataRow(32, 48, ScaleLayout.Linear)]
    [DataRow(32, 80, ScaleLayout.Linear)]
    [DataRow(48, 144, ScaleLayout.Linear)]
    [DataRow(32, 80, ScaleLayout.Swizzled128x4)]
    [DataRow(160, 144, ScaleLayout.Swizzled128x4)]
    public void EveryLevelDecodesTilesExactly(int rows, int columns, ScaleLayout layout)
    {
        const int experts = 2;
        var random = new Random(rows * 1000 + columns);
        var codes = new byte[experts * rows * columns / 2];
        random.NextBytes(codes);
        var linear = new byte[experts * rows * columns / 16];
        random.NextBytes(linear); // every byte, NaN and negative scales included
        byte[] scales = layout == ScaleLayout.Linear ? linear : ReferenceSwizzle.FromLinear(linear, experts, rows, columns / 16);
        var tile = new float[columns * 16];
        fixed (byte* codePointer = codes)
        fixed (byte* scalePointer = scales)
        fixed (float* tilePointer = tile)
        {
            var matrix = new PackedWeightMatrix(codePointer, scalePointer, rows, columns, layout);
            foreach (CpuVectorIsa isa in Enum.GetValues<CpuVectorIsa>().Where(CpuVectorIsaSelector.IsSupported))
            {
                for (int e = 0; e < experts; e++)
                {
                    for (int row0 = 0; row0 < rows; row0 += 16)
                    {
                        Array.Fill(tile, 12345f);
                        WeightTileDecoder.Decode(matrix, e, row0, 0, columns, tilePointer, isa);
                        for (int c = 0; c < columns; c++)
                        {
                            for (int i = 0; i < 16; i++)
                            {
                                long element = ((long)e * rows + row0 + i) * columns + c;
                                int code = (codes[element / 2] >> (int)(4 * (element % 2))) & 0xF;
                                float expected = ReferenceFormats.E2M1Value(code) * ReferenceFormats.E4M3Value(linear[element / 16]);
                                float actual = tile[c * 16 + i];
                                Assert.IsTrue(
                                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual) || (float.IsNaN(expected) && float.IsNaN(actual)),
                                    $"{isa}, expert {e}, row {row0 + i}, column {c}: expected {expected:R}, got {actual:R}");
                            }
                        }
                    }
                }
            }
        }
    }
}
