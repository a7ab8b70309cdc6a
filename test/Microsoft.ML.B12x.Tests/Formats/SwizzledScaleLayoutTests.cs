using System;
using System.Collections.Generic;
using Microsoft.ML.B12x.Formats;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Formats;

[TestClass]
public sealed class SwizzledScaleLayoutTests
{
    [TestMethod]
    [DataRow(0, 0, 0, 0)]
    [DataRow(0, 1, 0, 16)]
    [DataRow(0, 0, 1, 1)]
    [DataRow(0, 0, 3, 3)]
    [DataRow(0, 31, 0, 496)]
    [DataRow(0, 32, 0, 4)]
    [DataRow(0, 64, 2, 10)]
    [DataRow(0, 127, 3, 511)]
    [DataRow(0, 0, 4, 512)]
    [DataRow(0, 5, 7, 595)]
    [DataRow(0, 128, 0, 1024)]
    [DataRow(0, 200, 5, 1673)]
    [DataRow(0, 255, 7, 2047)]
    [DataRow(1, 0, 0, 2048)]
    [DataRow(1, 200, 5, 3721)]
    public void OffsetMatchesHandComputedTableFor256RowsAnd8Blocks(int expert, int row, int block, int expected)
    {
        // N = 256, C = 128: Np = 256, Cbp = 8, 2048 bytes per expert.
        Assert.AreEqual(expected, SwizzledScaleLayout.Offset(expert, row, block, 256, 128));
    }

    [TestMethod]
    [DataRow(0, 99, 4, 572)]
    [DataRow(1, 99, 4, 1596)]
    [DataRow(1, 0, 0, 1024)]
    public void OffsetMatchesHandComputedTableWithPadding(int expert, int row, int block, int expected)
    {
        // N = 100, C = 80 (5 blocks): Np = 128, Cbp = 8, 1024 bytes per expert.
        Assert.AreEqual(expected, SwizzledScaleLayout.Offset(expert, row, block, 100, 80));
    }

    [TestMethod]
    [DataRow(1, 128)]
    [DataRow(128, 128)]
    [DataRow(129, 256)]
    [DataRow(2880, 2944)]
    public void PaddedRowsRoundUpTo128(int rows, int expected)
    {
        Assert.AreEqual(expected, SwizzledScaleLayout.PaddedRows(rows));
    }

    [TestMethod]
    [DataRow(16, 4)]
    [DataRow(48, 4)]
    [DataRow(64, 4)]
    [DataRow(80, 8)]
    [DataRow(2880, 180)]
    public void PaddedBlocksRoundUpTo4(int columns, int expected)
    {
        Assert.AreEqual(expected, SwizzledScaleLayout.PaddedBlocks(columns));
    }

    [TestMethod]
    public void SizesAndViewShapeFollowFromThePadding()
    {
        Assert.AreEqual(128L * 8, SwizzledScaleLayout.BytesPerExpert(100, 80));
        Assert.AreEqual(3L * 128 * 8, SwizzledScaleLayout.TotalBytes(3, 100, 80));
        CollectionAssert.AreEqual(new long[] { 32, 4, 1, 4, 2, 3 }, SwizzledScaleLayout.ViewShape(3, 100, 80));
        CollectionAssert.AreEqual(new long[] { 32, 4, 2, 4, 1, 1 }, SwizzledScaleLayout.ViewShape(1, 256, 64));
    }

    [TestMethod]
    [DataRow(1, 128, 64)]
    [DataRow(2, 100, 80)]
    [DataRow(3, 130, 48)]
    [DataRow(1, 1, 16)]
    [DataRow(2, 256, 272)]
    public void TheFormulaIsABijectionOfThePaddedDomainOntoTheStorage(int experts, int rows, int columns)
    {
        int paddedRows = SwizzledScaleLayout.PaddedRows(rows);
        int paddedBlocks = SwizzledScaleLayout.PaddedBlocks(columns);
        long total = SwizzledScaleLayout.TotalBytes(experts, rows, columns);
        var seen = new bool[total];
        for (int e = 0; e < experts; e++)
        {
            for (int r = 0; r < paddedRows; r++)
            {
                for (int b = 0; b < paddedBlocks; b++)
                {
                    long offset = e * (long)paddedRows * paddedBlocks + SwizzledScaleLayout.OffsetInExpert(r, b, paddedBlocks);
                    Assert.IsTrue(offset >= 0 && offset < total, $"({e}, {r}, {b}) -> {offset} out of range");
                    Assert.IsFalse(seen[offset], $"({e}, {r}, {b}) -> {offset} hit twice");
                    seen[offset] = true;
                }
            }
        }
        Assert.IsTrue(Array.TrueForAll(seen, s => s), "every byte is reached");
    }

    [TestMethod]
    [DataRow(2, 100, 80)]
    [DataRow(3, 130, 48)]
    [DataRow(1, 128, 64)]
    [DataRow(1, 1, 16)]
    public void FromLinearFillsExactlyTheNonPaddingBytesAndZeroesTheRest(int experts, int rows, int columns)
    {
        int blocks = columns / 16;
        var linear = new byte[experts * rows * blocks];
        for (int i = 0; i < linear.Length; i++)
        {
            linear[i] = (byte)(1 + i % 251); // never zero
        }
        byte[] swizzled = SwizzledScaleLayout.FromLinear(linear, experts, rows, columns);
        Assert.AreEqual(SwizzledScaleLayout.TotalBytes(experts, rows, columns), swizzled.Length);

        var dataOffsets = new HashSet<long>();
        for (int e = 0; e < experts; e++)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int b = 0; b < blocks; b++)
                {
                    long offset = SwizzledScaleLayout.Offset(e, r, b, rows, columns);
                    Assert.IsTrue(dataOffsets.Add(offset), "distinct");
                    Assert.AreEqual(linear[(e * rows + r) * blocks + b], swizzled[offset]);
                }
            }
        }
        for (long i = 0; i < swizzled.Length; i++)
        {
            if (!dataOffsets.Contains(i))
            {
                Assert.AreEqual(0, swizzled[i], $"padding byte {i}");
            }
        }
    }

    [TestMethod]
    [DataRow(2, 100, 80)]
    [DataRow(3, 130, 48)]
    [DataRow(2, 256, 128)]
    public void LinearToSwizzledToLinearIsTheIdentity(int experts, int rows, int columns)
    {
        var random = new Random(7);
        var linear = new byte[experts * rows * (columns / 16)];
        random.NextBytes(linear);
        byte[] back = SwizzledScaleLayout.ToLinear(SwizzledScaleLayout.FromLinear(linear, experts, rows, columns), experts, rows, columns);
        CollectionAssert.AreEqual(linear, back);
    }

    [TestMethod]
    public void SwizzledStorageReadAsTheSixDimensionalViewGivesRowAndBlock()
    {
        // View element [a, b, c, d, f, e] = scale of row 128c+32b+a, block 4f+d; its storage order is [e][c][f][a][b][d].
        const int experts = 2, rows = 200, columns = 112; // Np = 256, Cbp = 8
        int blocks = columns / 16;
        var linear = new byte[experts * rows * blocks];
        new Random(3).NextBytes(linear);
        byte[] swizzled = SwizzledScaleLayout.FromLinear(linear, experts, rows, columns);
        long[] shape = SwizzledScaleLayout.ViewShape(experts, rows, columns);
        int c3 = (int)shape[2], f3 = (int)shape[4];
        for (int e = 0; e < experts; e++)
        {
            for (int c = 0; c < c3; c++)
            {
                for (int f = 0; f < f3; f++)
                {
                    for (int a = 0; a < 32; a++)
                    {
                        for (int b = 0; b < 4; b++)
                        {
                            for (int d = 0; d < 4; d++)
                            {
                                int storage = ((((e * c3 + c) * f3 + f) * 32 + a) * 4 + b) * 4 + d;
                                int row = 128 * c + 32 * b + a, block = 4 * f + d;
                                byte expected = row < rows && block < blocks ? linear[(e * rows + row) * blocks + block] : (byte)0;
                                Assert.AreEqual(expected, swizzled[storage], $"[{a},{b},{c},{d},{f},{e}]");
                            }
                        }
                    }
                }
            }
        }
    }

    [TestMethod]
    public void FromLinearRejectsAWrongLength()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => SwizzledScaleLayout.FromLinear(new byte[10], 1, 4, 32));
        Assert.AreEqual("linear", error.ParamName);
    }

    [TestMethod]
    public void ToLinearRejectsAWrongLength()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => SwizzledScaleLayout.ToLinear(new byte[10], 1, 4, 32));
        Assert.AreEqual("swizzled", error.ParamName);
    }
}
