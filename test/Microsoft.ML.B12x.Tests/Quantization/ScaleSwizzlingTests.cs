using System;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.Quantization;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Quantization;

[TestClass]
public sealed class ScaleSwizzlingTests
{
    private static Tensor RandomBytes(int seed, params long[] shape)
    {
        var random = new Random(seed);
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
        }
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return tensor(bytes, shape, ScalarType.Byte);
    }

    [TestMethod]
    public void SwizzleGivesPaddedStorageWithEachScaleAtItsFormulaOffset()
    {
        using Tensor linear = RandomBytes(1, 2, 130, 3); // N = 130, C = 48: Np = 256, Cbp = 4
        using Tensor swizzled = Nvfp4Quantizer.SwizzleScales(linear);
        CollectionAssert.AreEqual(new long[] { 2, 256, 4 }, swizzled.shape);
        byte[] source = linear.data<byte>().ToArray(), target = swizzled.data<byte>().ToArray();
        for (int e = 0; e < 2; e++)
        {
            for (int r = 0; r < 130; r++)
            {
                for (int b = 0; b < 3; b++)
                {
                    Assert.AreEqual(source[(e * 130 + r) * 3 + b], target[SwizzledScaleLayout.Offset(e, r, b, 130, 48)]);
                }
            }
        }
    }

    [TestMethod]
    public void SwizzleOfAMatrixKeepsRank2()
    {
        using Tensor linear = RandomBytes(2, 5, 2);
        using Tensor swizzled = Nvfp4Quantizer.SwizzleScales(linear);
        CollectionAssert.AreEqual(new long[] { 128, 4 }, swizzled.shape);
    }

    [TestMethod]
    public void UnswizzleInvertsSwizzle()
    {
        using Tensor linear = RandomBytes(3, 3, 200, 5);
        using Tensor swizzled = Nvfp4Quantizer.SwizzleScales(linear);
        using Tensor back = Nvfp4Quantizer.UnswizzleScales(swizzled.flatten(), 200, 80);
        CollectionAssert.AreEqual(new long[] { 3, 200, 5 }, back.shape);
        CollectionAssert.AreEqual(linear.data<byte>().ToArray(), back.data<byte>().ToArray());
    }

    [TestMethod]
    public void UnswizzleRejectsAPartialExpert()
    {
        using Tensor swizzled = zeros(new long[] { 128 * 4 + 1 }, ScalarType.Byte);
        Assert.AreEqual("swizzledScales", Assert.ThrowsExactly<ArgumentException>(
            () => Nvfp4Quantizer.UnswizzleScales(swizzled, 100, 64)).ParamName);
    }

    [TestMethod]
    public void UnswizzleRejectsColumnsThatAreNotBlocks()
    {
        using Tensor swizzled = zeros(new long[] { 512 }, ScalarType.Byte);
        Assert.AreEqual("columns", Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => Nvfp4Quantizer.UnswizzleScales(swizzled, 100, 40)).ParamName);
    }

    [TestMethod]
    public void UnswizzleRejectsRowsWhosePaddingOverflows()
    {
        using Tensor swizzled = zeros(new long[] { 512 }, ScalarType.Byte);
        Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => Nvfp4Quantizer.UnswizzleScales(swizzled, int.MaxValue, 16)).ParamName);
    }

    [TestMethod]
    public void UnswizzleRejectsAnExpandedViewOfMoreThanInt32MaxExperts()
    {
        using Tensor swizzled = zeros(new long[] { 1 }, ScalarType.Byte).expand(1L << 40);
        Assert.AreEqual("swizzledScales", Assert.ThrowsExactly<ArgumentException>(
            () => Nvfp4Quantizer.UnswizzleScales(swizzled, 128, 64)).ParamName);
    }
}
