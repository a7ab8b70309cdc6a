using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

/// <summary>Hand-assembled bytes with hand-computed outputs: nothing here checks the library against itself.</summary>
[TestClass]
public sealed class CpuMoeBackendFixtureTests
{
    private const ushort One = 0x3F80;

    private static ushort Bf16(float value) => (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16); // exact values only

    /// <summary>
    /// relu2, H = I = 16, one expert. x = [3, 1.5, -0.75, 0…].
    /// W1: row 0 = [1 (code 2, scale 1)], row 1 = [0, 2 (code 4, scale 1)], row 2 = [-0.5 (code 9) × scale 2];
    /// W2: row 0 = [1, 1], row 1 = [0.5, -2], row 2 = [6 (code 7) × scale 2^-9 (subnormal byte 0x01)].
    /// Other rows are zero codes with scale 1.0.
    /// </summary>
    private static MoeCaseData Fixture(MoeQuantMode mode, ScaleLayout layout, long[] ids, ushort[] x)
    {
        var w1Codes = new byte[16 * 8];
        var w1Scales = new byte[16];
        var w2Codes = new byte[16 * 8];
        var w2Scales = new byte[16];
        Array.Fill(w1Scales, (byte)0x38);
        Array.Fill(w2Scales, (byte)0x38);
        w1Codes[0 * 8] = 0x02;
        w1Codes[1 * 8] = 0x40;
        w1Codes[2 * 8] = 0x09;
        w1Scales[2] = 0x40;
        w2Codes[0 * 8] = 0x22;
        w2Codes[1 * 8] = 0xC1;
        w2Codes[2 * 8] = 0x07;
        w2Scales[2] = 0x01;
        int tokens = ids.Length;
        return new MoeCaseData
        {
            Tokens = tokens, Hidden = 16, Intermediate = 16, NumExperts = 1, LocalExperts = 1, TopK = 1,
            Activation = MoeActivation.Relu2, QuantMode = mode, Layout = layout,
            X = x, Ids = ids, RoutingWeights = Fill(new float[tokens], 0.75f),
            W1Codes = w1Codes, W1Scales = w1Scales, W2Codes = w2Codes, W2Scales = w2Scales,
            W1Alpha = new[] { 0.25f }, W2Alpha = new[] { 0.5f },
            InputGlobalScale = mode == MoeQuantMode.Nvfp4 ? new[] { 0.5f } : null,
            Fc2InputScale = mode == MoeQuantMode.Nvfp4 ? new[] { 0.0625f } : null,
        };
    }

    private static float[] Fill(float[] values, float value)
    {
        Array.Fill(values, value);
        return values;
    }

    /// <summary>Token rows: 0 = [3, 1.5, -0.75, 0…] routed to expert 0; 1 routed to -1; 2 routed to E = 1; 3 = a NaN row routed to 0.</summary>
    private static (long[] Ids, ushort[] X) FourTokens()
    {
        var x = new ushort[4 * 16];
        for (int t = 0; t < 4; t++)
        {
            x[t * 16 + 0] = Bf16(3f);
            x[t * 16 + 1] = Bf16(1.5f);
            x[t * 16 + 2] = Bf16(-0.75f);
        }
        x[3 * 16 + 5] = 0x7FC0;
        return (new long[] { 0, -1, 1, 0 }, x);
    }

    [TestMethod]
    [DataRow(ScaleLayout.Swizzled128x4)]
    [DataRow(ScaleLayout.Linear)]
    public void Nvfp4FixtureGivesTheHandComputedOutput(ScaleLayout layout)
    {
        // Step 1 (gs1 = 0.5): amax 3, d = 3, s = 1 (0x38), m = 2 -> codes 7, 5, 11 -> x̂ = [6, 3, -1.5].
        // FC1: [6, 6, -6]; alpha1 = 0.25·0.5 = 0.125 -> G = [0.75, 0.75, -0.75] -> relu2 a = [0.5625, 0.5625, 0].
        // Step 4 (gs2 = 0.0625): amax 0.5625, d = 0.375, s = 1.5 (0x3C), m = fp32(1/0.09375) -> 6.0000002 -> code 7 -> â = [9, 9, 0].
        // FC2: [9+9, 4.5-18, 9·6/512] = [18, -13.5, 0.10546875]; factor fp32(0.75·0.5) = 0.375.
        (long[] ids, ushort[] x) = FourTokens();
        ushort[] output = MoeCaseRunner.Run(Fixture(MoeQuantMode.Nvfp4, layout, ids, x));
        var expected = new ushort[4 * 16];
        expected[0] = Bf16(6.75f);
        expected[1] = Bf16(-5.0625f);
        expected[2] = Bf16(0.03955078125f);
        Array.Fill(expected, (ushort)0x7FC0, 3 * 16, 16);
        BitAssert.Equal(expected, output, 16, $"NVFP4 fixture, {layout}");
    }

    [TestMethod]
    [DataRow(ScaleLayout.Swizzled128x4)]
    [DataRow(ScaleLayout.Linear)]
    public void W4A16FixtureGivesTheHandComputedOutput(ScaleLayout layout)
    {
        // FC1 on x itself: [3, 3, -3]; alpha1 = w1_alpha = 0.25 -> G = [0.75, 0.75, -0.75] -> a = [0.5625, 0.5625, 0].
        // FC2: [1.125, 0.28125 - 1.125, 0.5625·6/512] = [1.125, -0.84375, 0.006591796875]; factor 0.375.
        (long[] ids, ushort[] x) = FourTokens();
        ushort[] output = MoeCaseRunner.Run(Fixture(MoeQuantMode.W4A16, layout, ids, x));
        var expected = new ushort[4 * 16];
        expected[0] = Bf16(0.421875f);
        expected[1] = Bf16(-0.31640625f);
        expected[2] = Bf16(0.002471923828125f);
        Array.Fill(expected, (ushort)0x7FC0, 3 * 16, 16);
        BitAssert.Equal(expected, output, 16, $"W4A16 fixture, {layout}");
    }

    [TestMethod]
    public void TheFixturesAgreeWithTheOracle()
    {
        (long[] ids, ushort[] x) = FourTokens();
        foreach (MoeQuantMode mode in new[] { MoeQuantMode.Nvfp4, MoeQuantMode.W4A16 })
        {
            MoeCaseData data = Fixture(mode, ScaleLayout.Linear, ids, x);
            BitAssert.Equal(ReferenceMoe.Run(data), MoeCaseRunner.Run(data), 16, $"{mode}");
        }
    }

    /// <summary>
    /// W4A16 relu2 where one expert's FC2 output at feature 0 is exactly 1 (x = [1, 0…], W1 and W2 rows 0 = [1],
    /// alphas 1), so each pair contributes exactly its routing weight there.
    /// </summary>
    private static MoeCaseData UnitExpert(float[] routingWeights, long[] ids)
    {
        var w1Codes = new byte[16 * 8];
        var w2Codes = new byte[16 * 8];
        var scales = new byte[16];
        Array.Fill(scales, (byte)0x38);
        w1Codes[0] = 0x02;
        w2Codes[0] = 0x02;
        var x = new ushort[2 * 16];
        x[0] = One;
        x[16] = One;
        return new MoeCaseData
        {
            Tokens = 2, Hidden = 16, Intermediate = 16, NumExperts = 1, LocalExperts = 1, TopK = 3,
            Activation = MoeActivation.Relu2, QuantMode = MoeQuantMode.W4A16, Layout = ScaleLayout.Linear,
            X = x, Ids = ids, RoutingWeights = routingWeights,
            W1Codes = w1Codes, W1Scales = scales, W2Codes = w2Codes, W2Scales = (byte[])scales.Clone(),
            W1Alpha = new[] { 1f }, W2Alpha = new[] { 1f },
        };
    }

    [TestMethod]
    public void CombineAddsInAscendingKWithOneRoundingAtTheEnd()
    {
        float u = MathF.Pow(2, -23); // float32 ulp in [1, 2)
        float tie = 1f + 3f / 256f;  // the bf16 midpoint between 0x3F81 and 0x3F82 (even)
        float[] weights =
        {
            // token 0: ascending k gives (tie - u + 0.4u) + 0.4u = tie - u -> 0x3F81; the reverse order would reach tie -> 0x3F82.
            tie - u, 0.4f * u, 0.4f * u,
            // token 1: one rounding of 1.005859375 - 0.003125 gives 1.0; rounding the first term to bf16 first would give 0x3F81.
            1.005859375f, -0.003125f, 0.5f,
        };
        long[] ids = { 0, 0, 0, 0, 0, -1 };
        ushort[] output = MoeCaseRunner.Run(UnitExpert(weights, ids));
        Assert.AreEqual((ushort)0x3F81, output[0], "ascending k");
        Assert.AreEqual(One, output[16], "one rounding");
        Assert.AreEqual((ushort)0, output[1], "other features");
    }

    [TestMethod]
    public void W4A16RoundsEachProductBeforeAddingIt()
    {
        // x = [-v, v] with v = bf16(1.5e35); W1 row 0 = [4·448, 6·448]. The first product, -v·1792 = -2.69e38, is finite;
        // the second, v·2688 = 4.03e38, rounds to +Inf on its own, so acc = +Inf (a fused multiply-add would keep
        // -2.69e38 + 4.03e38 = 1.34e38). relu2 of +Inf is +Inf; W2 row 0 = [1] passes it on, and the zero rows of W2
        // give Inf·0 = NaN.
        ushort v = Bf16(1.5e35f);
        var x = new ushort[16];
        x[0] = (ushort)(v | 0x8000);
        x[1] = v;
        var w1Codes = new byte[16 * 8];
        var w1Scales = new byte[16];
        var w2Codes = new byte[16 * 8];
        var w2Scales = new byte[16];
        Array.Fill(w1Scales, (byte)0x38);
        Array.Fill(w2Scales, (byte)0x38);
        w1Codes[0] = 0x76; // element 0: code 6 (4), element 1: code 7 (6)
        w1Scales[0] = 0x7E; // 448
        w2Codes[0] = 0x02;
        var data = new MoeCaseData
        {
            Tokens = 1, Hidden = 16, Intermediate = 16, NumExperts = 1, LocalExperts = 1, TopK = 1,
            Activation = MoeActivation.Relu2, QuantMode = MoeQuantMode.W4A16, Layout = ScaleLayout.Linear,
            X = x, Ids = new long[] { 0 }, RoutingWeights = new[] { 1f },
            W1Codes = w1Codes, W1Scales = w1Scales, W2Codes = w2Codes, W2Scales = w2Scales,
            W1Alpha = new[] { 1e-30f }, W2Alpha = new[] { 1f },
        };
        ushort[] output = MoeCaseRunner.Run(data);
        Assert.AreEqual((ushort)0x7F80, output[0], "feature 0 is +Inf");
        for (int h = 1; h < 16; h++)
        {
            Assert.IsTrue(BitAssert.IsNaN(output[h]), $"feature {h} is NaN");
        }
    }
}
