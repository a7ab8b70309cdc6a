using System;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Quantization;

[TestClass]
public sealed class Nvfp4QuantizerActivationsTests
{
    private static byte[] Bytes(Tensor t) => t.contiguous().data<byte>().ToArray();

    private static float[] RandomRow(Random random, int length)
    {
        var row = new float[length];
        for (int i = 0; i < length; i++)
        {
            row[i] = ReferenceFormats.BFloat16Round((float)((random.NextDouble() * 2 - 1) * Math.Pow(10, (i / 16) % 5 - 3)));
        }
        return row;
    }

    [TestMethod]
    public void CodesAndScalesAreThoseOfTheReferenceQuantiserPerRow()
    {
        var random = new Random(8);
        const int tokens = 3, columns = 80;
        var values = new float[tokens * columns];
        for (int t = 0; t < tokens; t++)
        {
            RandomRow(random, columns).CopyTo(values, t * columns);
        }
        using Tensor x = tensor(values, new long[] { tokens, columns }, ScalarType.Float32).to(ScalarType.BFloat16);
        using QuantizedActivations q = Nvfp4Quantizer.QuantizeActivations(x, 0.003f);
        CollectionAssert.AreEqual(new long[] { tokens, columns / 2 }, q.Codes.shape);
        CollectionAssert.AreEqual(new long[] { tokens, columns / 16 }, q.Scales.shape);
        Assert.AreEqual(0.003f, q.GlobalScale);
        byte[] codes = Bytes(q.Codes), scales = Bytes(q.Scales);
        for (int t = 0; t < tokens; t++)
        {
            for (int b = 0; b < columns / 16; b++)
            {
                (byte scale, int[] expected) = ReferenceQuantizer.QuantizeBlock(values.AsSpan(t * columns + 16 * b, 16), 0.003f);
                Assert.AreEqual(scale, scales[t * (columns / 16) + b], $"token {t}, block {b}");
                for (int i = 0; i < 16; i++)
                {
                    int at = t * columns + 16 * b + i;
                    Assert.AreEqual(expected[i], (codes[at / 2] >> (4 * (at % 2))) & 0xF, $"token {t}, element {16 * b + i}");
                }
            }
        }
    }

    [TestMethod]
    public void DequantiseIsCodeValueTimesScaleTimesGlobalScale()
    {
        using Tensor codes = tensor(new byte[] { 0x9F, 0, 0, 0, 0, 0, 0, 0 }, new long[] { 1, 8 }, ScalarType.Byte);
        using Tensor scales = tensor(new byte[] { 0x05 }, new long[] { 1, 1 }, ScalarType.Byte);
        using Tensor x = Nvfp4Quantizer.DequantizeActivations(codes, scales, 3f);
        float[] values = x.data<float>().ToArray();
        float scale = 5f / 512f * 3f;
        Assert.AreEqual(-6f * scale, values[0]);
        Assert.AreEqual(-0.5f * scale, values[1]);
    }

    [TestMethod]
    public void QuantiseThenDequantiseStaysWithinHalfAStep()
    {
        var random = new Random(17);
        float[] row = RandomRow(random, 160);
        using Tensor x = tensor(row, new long[] { 1, 160 }, ScalarType.Float32);
        const float gs = 0.01f;
        using QuantizedActivations q = Nvfp4Quantizer.QuantizeActivations(x, gs);
        using Tensor back = Nvfp4Quantizer.DequantizeActivations(q.Codes, q.Scales, q.GlobalScale);
        float[] values = back.data<float>().ToArray();
        byte[] scales = Bytes(q.Scales);
        for (int i = 0; i < row.Length; i++)
        {
            double divisor = (double)ReferenceFormats.E4M3Value(scales[i / 16]) * gs;
            double magnitude = Math.Abs(row[i]) / divisor;
            double halfStep = magnitude < 2 ? 0.25 : magnitude < 4 ? 0.5 : 1.0;
            double zeroScaleBound = divisor == 0 ? Math.Abs(row[i]) : 0;
            Assert.IsLessThanOrEqualTo(halfStep * divisor + zeroScaleBound + Math.Abs(row[i]) * 1e-6, Math.Abs(row[i] - values[i]), $"element {i}");
        }
    }

    [TestMethod]
    [DataRow(0f)]
    [DataRow(-1f)]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    public void RejectsAGlobalScaleThatIsNotFiniteAndPositive(float gs)
    {
        using Tensor x = zeros(1, 16);
        Assert.AreEqual("globalScale", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Nvfp4Quantizer.QuantizeActivations(x, gs)).ParamName);
    }

    [TestMethod]
    public void RejectsARank3Input()
    {
        using Tensor x = zeros(1, 1, 16);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeActivations(x, 1f)).ParamName);
    }

    [TestMethod]
    public void RejectsAnEmptyInputClaimingMoreThanInt32MaxColumns()
    {
        using Tensor x = empty(new long[] { 0, (1L << 31) + 16 }, ScalarType.Float32);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeActivations(x, 1f)).ParamName);
    }

    [TestMethod]
    public void DequantiseRejectsEmptyCodesWhoseRowsWouldExceedInt32Max()
    {
        using Tensor codes = empty(new long[] { 0, 1L << 30 }, ScalarType.Byte);
        using Tensor scales = empty(new long[] { 0, 1L << 27 }, ScalarType.Byte);
        Assert.AreEqual("codes", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.DequantizeActivations(codes, scales, 1f)).ParamName);
    }

    [TestMethod]
    public void DequantiseRejectsScalesOfTheWrongShape()
    {
        using Tensor codes = zeros(new long[] { 2, 16 }, ScalarType.Byte);
        using Tensor scales = zeros(new long[] { 2, 1 }, ScalarType.Byte);
        Assert.AreEqual("scales", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.DequantizeActivations(codes, scales, 1f)).ParamName);
    }
}
