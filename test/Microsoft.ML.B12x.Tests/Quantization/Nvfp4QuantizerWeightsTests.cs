using System;
using System.Linq;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Quantization;

[TestClass]
public sealed class Nvfp4QuantizerWeightsTests
{
    private static Tensor Weights(float[] values, params long[] shape) => tensor(values, shape, ScalarType.Float32);

    private static byte[] Bytes(Tensor t) => t.contiguous().data<byte>().ToArray();

    private static float[] Floats(Tensor t) => t.contiguous().data<float>().ToArray();

    /// <summary>Half the gap between the E2M1 magnitudes around |v| (in units of the divisor): 0.25 below 2, 0.5 below 4, 1 up to 6.</summary>
    private static double HalfStep(double magnitude) => magnitude < 2 ? 0.25 : magnitude < 4 ? 0.5 : 1.0;

    [TestMethod]
    public void HandAssembledExpertsGiveHandComputedBytes()
    {
        // Expert 0: amax 2688 -> S = 1. Block 0: amax 2688 -> s = 448 (0x7E), divisor 448:
        //   2688 -> 6 (7), -448 -> -1 (10), 224 -> 0.5 (1), 672 -> 1.5 (3), rest 0.
        // Block 1: amax 6 -> s = 1 (0x38): 6 (7), -3 (13), 1.25 -> tie -> 1 (2), 0.25 -> tie -> 0 (0), rest 0.
        // Expert 1: all zero -> S = 1, every block scale 0 -> 1.0 (0x38), codes 0.
        var values = new float[2 * 32];
        values[0] = 2688f; values[1] = -448f; values[2] = 224f; values[3] = 672f;
        values[16] = 6f; values[17] = -3f; values[18] = 1.25f; values[19] = 0.25f;
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 2, 1, 32));

        CollectionAssert.AreEqual(new long[] { 2, 1, 16 }, q.Codes.shape);
        CollectionAssert.AreEqual(new long[] { 2, 1, 2 }, q.Scales.shape);
        CollectionAssert.AreEqual(new long[] { 2 }, q.GlobalScales.shape);
        CollectionAssert.AreEqual(new[] { 1f, 1f }, Floats(q.GlobalScales));
        CollectionAssert.AreEqual(new byte[] { 0x7E, 0x38, 0x38, 0x38 }, Bytes(q.Scales));
        var expectedCodes = new byte[32];
        expectedCodes[0] = 0xA7; expectedCodes[1] = 0x31; expectedCodes[8] = 0xD7; expectedCodes[9] = 0x02;
        CollectionAssert.AreEqual(expectedCodes, Bytes(q.Codes));
    }

    [TestMethod]
    public void GlobalScaleIsAmaxOver2688PerExpert()
    {
        var random = new Random(11);
        float[] amax = { 0.037f, 1.5f, 900f };
        var values = new float[3 * 4 * 32];
        for (int e = 0; e < 3; e++)
        {
            for (int i = 0; i < 128; i++)
            {
                values[e * 128 + i] = (float)(random.NextDouble() * 2 - 1) * amax[e] * 0.9f;
            }
            values[e * 128 + 77] = -amax[e];
        }
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 3, 4, 32));
        float[] global = Floats(q.GlobalScales);
        for (int e = 0; e < 3; e++)
        {
            Assert.AreEqual(amax[e] / 2688f, global[e], $"expert {e}");
        }
    }

    [TestMethod]
    public void ZeroBlockInANonZeroExpertGetsScaleOne()
    {
        var values = new float[32];
        values[16] = 5f;
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 1, 32));
        CollectionAssert.AreEqual(new byte[] { 0x38, 0x7E }, Bytes(q.Scales));
        Assert.AreEqual(2, q.Codes.dim(), "a 2-D input keeps rank 2");
        CollectionAssert.AreEqual(new long[] { 1 }, q.GlobalScales.shape);
    }

    [TestMethod]
    public void TinyBlockIsClampedToTheSmallestSubnormal()
    {
        // S = 2688/2688 = 1; block 1 amax 1e-4 -> s = 1.7e-5 < 2^-9 -> clamped to 2^-9 (0x01); codes of
        // v / 2^-9 = 0.0512 -> 0 (negative keeps its sign: 8).
        var values = new float[32];
        values[0] = 2688f;
        values[16] = 1e-4f;
        values[17] = -1e-4f;
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 1, 32));
        CollectionAssert.AreEqual(new byte[] { 0x7E, 0x01 }, Bytes(q.Scales));
        Assert.AreEqual(0x80, Bytes(q.Codes)[8]);
    }

    [TestMethod]
    public void BlockScalesInTheSubnormalRangeAreKept()
    {
        // S = 1; block amax 6·5/512 -> s = 5/512 exactly (0x05); 6·3/512·0.5 -> code of 1.5 (3).
        var values = new float[32];
        values[0] = 2688f;
        values[16] = 6f * 5f / 512f;
        values[17] = 1.5f * 5f / 512f;
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 1, 32));
        CollectionAssert.AreEqual(new byte[] { 0x7E, 0x05 }, Bytes(q.Scales));
        Assert.AreEqual(0x37, Bytes(q.Codes)[8]);
    }

    [TestMethod]
    public void EveryElementIsWithinHalfAnE2M1StepOfItsDequantisedValue()
    {
        var random = new Random(2024);
        const int experts = 3, rows = 20, columns = 64;
        var values = new float[experts * rows * columns];
        for (int i = 0; i < values.Length; i++)
        {
            // Gaussian-ish values whose block magnitudes span seven decades, so scales go from subnormal to 448.
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            values[i] = (float)(gaussian * Math.Pow(10, -((i / 16) % 7)) * (1 + i / (rows * columns)));
        }
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, experts, rows, columns));
        using Tensor dequantised = Nvfp4Quantizer.DequantizeWeights(q.Codes, q.Scales, q.GlobalScales);
        float[] back = Floats(dequantised);
        byte[] scales = Bytes(q.Scales);
        float[] global = Floats(q.GlobalScales);
        int subnormal = scales.Count(s => s is > 0 and < 8), saturated = scales.Count(s => s == 0x7E);
        Assert.IsGreaterThan(0, subnormal, "subnormal block scales exercised");
        Assert.IsGreaterThan(0, saturated, "block scales at 448 exercised");
        for (int i = 0; i < values.Length; i++)
        {
            int e = i / (rows * columns);
            double divisor = (double)ReferenceFormats.E4M3Value(scales[i / 16]) * global[e];
            double magnitude = Math.Abs(values[i]) / divisor;
            if (scales[i / 16] >= 8)
            {
                // A normal block scale is within half an E4M3 ulp (2^-4 relative) of block_amax/(6·S).
                Assert.IsLessThanOrEqualTo(6 * (1 + 1.0 / 16) * (1 + 1e-6), magnitude, $"element {i} beyond the saturation margin");
            }
            // Past 6 the code saturates (a subnormal block scale can round down by up to a third); below, the error is
            // half an E2M1 step. The slack covers the float32 roundings of v / divisor and of the dequantised product.
            double allowed = magnitude > 6 ? (magnitude - 6) * divisor : HalfStep(magnitude) * divisor;
            Assert.IsLessThanOrEqualTo(allowed + Math.Abs(values[i]) * 1e-6, Math.Abs(values[i] - back[i]), $"element {i}: {values[i]:R} -> {back[i]:R}");
        }
    }

    [TestMethod]
    public void RelativeErrorOfGaussianWeightsIsThatOfFourBitBlocks()
    {
        var random = new Random(99);
        var values = new float[64 * 256];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) * 0.02);
        }
        using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(Weights(values, 64, 256));
        using Tensor dequantised = Nvfp4Quantizer.DequantizeWeights(q.Codes, q.Scales, q.GlobalScales);
        float[] back = Floats(dequantised);
        double error = 0, norm = 0;
        for (int i = 0; i < values.Length; i++)
        {
            error += (values[i] - back[i]) * (double)(values[i] - back[i]);
            norm += values[i] * (double)values[i];
        }
        double relative = Math.Sqrt(error / norm);
        // E2M1 with one E4M3 scale per 16 Gaussian values: about 8-10 % relative RMS error (uniform rounding noise of
        // steps 0.5..2 relative to a block amax near 2σ).
        Assert.IsGreaterThan(0.05, relative, $"relative RMS error {relative}");
        Assert.IsLessThan(0.12, relative, $"relative RMS error {relative}");
    }

    [TestMethod]
    public void BFloat16InputGivesTheSameBytesAsItsFloat32Values()
    {
        var random = new Random(3);
        var values = new float[2 * 8 * 48];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ReferenceFormats.BFloat16Round((float)(random.NextDouble() * 2 - 1));
        }
        using Tensor f32 = Weights(values, 2, 8, 48);
        using Tensor bf16 = f32.to(ScalarType.BFloat16);
        using QuantizedWeights a = Nvfp4Quantizer.QuantizeWeights(f32);
        using QuantizedWeights b = Nvfp4Quantizer.QuantizeWeights(bf16);
        CollectionAssert.AreEqual(Bytes(a.Codes), Bytes(b.Codes));
        CollectionAssert.AreEqual(Bytes(a.Scales), Bytes(b.Scales));
        CollectionAssert.AreEqual(Floats(a.GlobalScales), Floats(b.GlobalScales));
    }

    [TestMethod]
    public void DequantiseFollowsModelOptRule()
    {
        // w = fp32(value(code) · fp32(decode(scale) · S)): codes 0x31 -> (0.5, 1.5); scale 0x3A (1.25); S = 0.1.
        using Tensor codes = tensor(new byte[] { 0x31, 0, 0, 0, 0, 0, 0, 0 }, new long[] { 1, 1, 8 }, ScalarType.Byte);
        using Tensor scales = tensor(new byte[] { 0x3A }, new long[] { 1, 1, 1 }, ScalarType.Byte);
        using Tensor global = tensor(new[] { 0.1f }, new long[] { 1 }, ScalarType.Float32);
        using Tensor w = Nvfp4Quantizer.DequantizeWeights(codes, scales, global);
        float[] values = Floats(w);
        float scale = 1.25f * 0.1f;
        Assert.AreEqual(0.5f * scale, values[0]);
        Assert.AreEqual(1.5f * scale, values[1]);
        Assert.AreEqual(0f, values[2]);
    }

    [TestMethod]
    public void RejectsAnIntegerTensor()
    {
        using Tensor w = zeros(2, 16, ScalarType.Int32);
        Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeWeights(w)).ParamName);
    }

    [TestMethod]
    public void RejectsAVector()
    {
        using Tensor w = zeros(32);
        Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeWeights(w)).ParamName);
    }

    [TestMethod]
    public void RejectsAReductionLengthThatIsNotAMultipleOf16()
    {
        using Tensor w = zeros(2, 24);
        Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeWeights(w)).ParamName);
    }

    [TestMethod]
    public void RejectsNonFiniteWeights()
    {
        var values = new float[32];
        values[5] = float.NaN;
        using Tensor w = Weights(values, 1, 32);
        var error = Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeWeights(w));
        Assert.AreEqual("weights", error.ParamName);
        StringAssert.Contains(error.Message, "column 5");
    }

    [TestMethod]
    public void RejectsAnEmptyStackClaimingMoreThanInt32MaxRows()
    {
        using Tensor w = empty(new long[] { 0, 1L << 31, 16 }, ScalarType.Float32);
        Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentException>(() => Nvfp4Quantizer.QuantizeWeights(w)).ParamName);
    }

    [TestMethod]
    public void DequantiseRejectsMismatchedScales()
    {
        using Tensor codes = zeros(new long[] { 1, 2, 8 }, ScalarType.Byte);
        using Tensor scales = zeros(new long[] { 1, 2, 2 }, ScalarType.Byte);
        using Tensor global = ones(1);
        Assert.AreEqual("linearScales", Assert.ThrowsExactly<ArgumentException>(
            () => Nvfp4Quantizer.DequantizeWeights(codes, scales, global)).ParamName);
    }

    [TestMethod]
    public void DequantiseRejectsMismatchedGlobalScales()
    {
        using Tensor codes = zeros(new long[] { 2, 2, 8 }, ScalarType.Byte);
        using Tensor scales = zeros(new long[] { 2, 2, 1 }, ScalarType.Byte);
        using Tensor global = ones(1);
        Assert.AreEqual("globalScales", Assert.ThrowsExactly<ArgumentException>(
            () => Nvfp4Quantizer.DequantizeWeights(codes, scales, global)).ParamName);
    }
}
