using System;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

/// <summary>Routing edge cases of the CPU backend: invalid and huge ids, duplicates, non-finite rows, expert parallelism.</summary>
[TestClass]
public sealed class CpuMoeBackendRoutingTests
{
    private static MoeCaseData Case(int seed, bool ids64 = false, double invalidRate = 0, MoeQuantMode mode = MoeQuantMode.Nvfp4) =>
        MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: 9, Hidden: 64, Intermediate: 48, Experts: 8, TopK: 3, QuantMode: mode, Ids64: ids64,
            InvalidIdRate: invalidRate, Seed: seed));

    private static ushort[] Row(ushort[] output, int token, int hidden) => output.AsSpan(token * hidden, hidden).ToArray();

    [TestMethod]
    public void InvalidIdsContributeNothing()
    {
        MoeCaseData data = Case(1);
        long[] ids = (long[])data.Ids.Clone();
        ids[0 * 3 + 1] = -1;
        ids[1 * 3 + 0] = data.NumExperts;
        ids[2 * 3 + 2] = int.MinValue;
        ids[3 * 3 + 1] = int.MaxValue;
        MoeCaseData withInvalid = data.With(ids: ids);
        ushort[] output = MoeCaseRunner.Run(withInvalid);
        BitAssert.Equal(ReferenceMoe.Run(withInvalid), output, data.Hidden, "invalid ids");
        CollectionAssert.AreNotEqual(MoeCaseRunner.Run(data), output, "the invalid ids did change the routing");
    }

    [TestMethod]
    public void Int64IdsAreComparedWithoutTruncation()
    {
        MoeCaseData data = Case(2, ids64: true);
        long[] huge = (long[])data.Ids.Clone();
        long[] dropped = (long[])data.Ids.Clone();
        int[] pairs = { 0, 4, 8, 13, 20 };
        foreach (int p in pairs)
        {
            // 2^40 + a valid id: truncated to 32 bits it would alias that valid expert.
            huge[p] = (1L << 40) + data.Ids[p];
            dropped[p] = -1;
        }
        huge[25] = long.MinValue;
        huge[26] = (1L << 32) + 1;
        dropped[25] = -1;
        dropped[26] = -1;
        ushort[] expected = MoeCaseRunner.Run(data.With(ids: dropped));
        BitAssert.Equal(expected, MoeCaseRunner.Run(data.With(ids: huge)), data.Hidden, "huge int64 ids");
    }

    [TestMethod]
    public void Int32AndInt64IdsGiveTheSameBits()
    {
        MoeCaseData data = Case(3, invalidRate: 0.2);
        BitAssert.Equal(MoeCaseRunner.Run(data.With(ids64: false)), MoeCaseRunner.Run(data.With(ids64: true)), data.Hidden, "id dtype");
    }

    [TestMethod]
    public void TokensWithoutALocalPairGetPositiveZero()
    {
        MoeCaseData data = Case(4);
        long[] ids = (long[])data.Ids.Clone();
        ids[3] = -1;
        ids[4] = 8;
        ids[5] = -7;
        ushort[] output = MoeCaseRunner.Run(data.With(ids: ids));
        Assert.IsTrue(Row(output, 1, data.Hidden).All(bits => bits == 0), "token 1 is +0 everywhere");
        Assert.IsTrue(Row(output, 0, data.Hidden).Any(bits => bits != 0), "token 0 is not");
    }

    [TestMethod]
    public void ADuplicatedExpertCountsTwice()
    {
        // [e, e] with weights [w, w] equals [e, -1] with weights [2w, 0]: doubling is exact at every step.
        MoeCaseData data = Case(5);
        long[] twice = (long[])data.Ids.Clone();
        long[] once = (long[])data.Ids.Clone();
        float[] twiceWeights = (float[])data.RoutingWeights.Clone();
        float[] onceWeights = (float[])data.RoutingWeights.Clone();
        for (int t = 0; t < data.Tokens; t++)
        {
            twice[t * 3 + 1] = twice[t * 3];
            twiceWeights[t * 3 + 1] = twiceWeights[t * 3];
            once[t * 3 + 1] = -1;
            onceWeights[t * 3] *= 2;
        }
        MoeCaseData duplicated = data.With(ids: twice, routing: twiceWeights);
        ushort[] output = MoeCaseRunner.Run(duplicated);
        BitAssert.Equal(MoeCaseRunner.Run(data.With(ids: once, routing: onceWeights)), output, data.Hidden, "duplicate vs doubled weight");
        BitAssert.Equal(ReferenceMoe.Run(duplicated), output, data.Hidden, "duplicate vs oracle");
    }

    [TestMethod]
    [DataRow(0x7FC0, 0)]   // NaN at the start
    [DataRow(0xFFC1, 37)]  // negative NaN with a payload
    [DataRow(0x7F80, 63)]  // +Inf at the end
    [DataRow(0xFF80, 16)]  // -Inf
    public void NonFiniteRowsBecomeNaNAndLeaveOtherRowsAlone(int bits, int feature)
    {
        MoeCaseData data = Case(6);
        ushort[] x = (ushort[])data.X.Clone();
        x[2 * data.Hidden + feature] = (ushort)bits;
        x[5 * data.Hidden + feature] = (ushort)bits;
        long[] ids = (long[])data.Ids.Clone();
        ids[5 * 3] = -1;
        ids[5 * 3 + 1] = -1;
        ids[5 * 3 + 2] = 99; // token 5 has no local pair: +0 despite its NaN
        ushort[] finite = MoeCaseRunner.Run(data.With(ids: ids));
        ushort[] output = MoeCaseRunner.Run(data.With(x: x, ids: ids));
        Assert.IsTrue(Row(output, 2, data.Hidden).All(BitAssert.IsNaN), "token 2 is NaN everywhere");
        Assert.IsTrue(Row(output, 5, data.Hidden).All(b => b == 0), "token 5 is +0");
        for (int t = 0; t < data.Tokens; t++)
        {
            if (t != 2)
            {
                BitAssert.Equal(Row(finite, t, data.Hidden), Row(output, t, data.Hidden), data.Hidden, $"token {t}");
            }
        }
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ExpertParallelRanksSumToTheFullResult(bool localScalars)
    {
        MoeCaseData full = MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: 17, Hidden: 64, Intermediate: 32, Experts: 8, TopK: 4, InvalidIdRate: 0.05, Seed: 7));
        ushort[] whole = MoeCaseRunner.Run(full);
        (int Offset, int Count)[] ranks = { (0, 3), (3, 2), (5, 3) };
        var sums = new float[whole.Length];
        var tolerance = new double[whole.Length];
        foreach ((int offset, int count) in ranks)
        {
            MoeCaseData rank = full.ForRank(offset, count, localScalars);
            ushort[] part = MoeCaseRunner.Run(rank);
            BitAssert.Equal(ReferenceMoe.Run(rank), part, full.Hidden, $"rank [{offset}, {offset + count}) vs oracle");
            for (int i = 0; i < whole.Length; i++)
            {
                sums[i] += BitAssert.ToSingle(part[i]);
                tolerance[i] += Ulp(Math.Max(Math.Abs(BitAssert.ToSingle(part[i])), Math.Abs(BitAssert.ToSingle(whole[i]))));
            }
        }
        int nonZero = 0;
        for (int i = 0; i < whole.Length; i++)
        {
            double difference = Math.Abs(sums[i] - (double)BitAssert.ToSingle(whole[i]));
            Assert.IsLessThanOrEqualTo(tolerance[i], difference, $"element {i}: ranks sum to {sums[i]:R}, full result {BitAssert.ToSingle(whole[i]):R}");
            nonZero += whole[i] != 0 ? 1 : 0;
        }
        Assert.IsGreaterThan(whole.Length / 2, nonZero, "the comparison covers non-zero outputs");
    }

    /// <summary>One bfloat16 ulp at magnitude |v| (the spacing of bf16 values with v's exponent).</summary>
    private static double Ulp(double magnitude)
    {
        if (magnitude == 0)
        {
            return 0;
        }
        int exponent = Math.Max(Math.ILogB(magnitude), -126);
        return Math.ScaleB(1.0, exponent - 7);
    }

    [TestMethod]
    public void ARankWithoutPairsForATokenGivesPositiveZeroThere()
    {
        MoeCaseData full = Case(8);
        MoeCaseData rank = full.ForRank(6, 2, localScalars: false);
        ushort[] output = MoeCaseRunner.Run(rank);
        for (int t = 0; t < full.Tokens; t++)
        {
            bool local = Enumerable.Range(0, 3).Any(k => full.Ids[t * 3 + k] is 6 or 7);
            if (!local)
            {
                Assert.IsTrue(Row(output, t, full.Hidden).All(b => b == 0), $"token {t}");
            }
        }
    }
}
