using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
public sealed class MoeRouterTests
{
    private const int Experts = 16, TopK = 4, Rows = 64;

    [TestMethod]
    [DataRow(RouterKind.SoftmaxTopK, true)]
    [DataRow(RouterKind.SoftmaxTopK, false)]
    [DataRow(RouterKind.TopKSoftmax, false)]
    public void RoutingMatchesAnIndependentFloat64Computation(RouterKind kind, bool normalize)
    {
        float[] logits = RandomLogits(seed: 5);
        var ids = new int[Rows * TopK];
        var weights = new float[Rows * TopK];

        new MoeRouter(kind, Experts, TopK, normalize).Route(logits, ids, weights);

        for (int r = 0; r < Rows; r++)
        {
            (int[] expectedIds, double[] expectedWeights) = Reference(logits.AsSpan(r * Experts, Experts).ToArray(), kind, normalize);
            CollectionAssert.AreEqual(expectedIds, ids.Skip(r * TopK).Take(TopK).ToArray(), $"row {r} ids");
            for (int k = 0; k < TopK; k++)
            {
                // fp32 arithmetic with about ten roundings per weight: 2e-6 is about 17 ulp.
                Assert.AreEqual(expectedWeights[k], weights[r * TopK + k], 2e-6 * expectedWeights[k], $"row {r}, k {k}");
            }
        }
    }

    [TestMethod]
    [DataRow(RouterKind.SoftmaxTopK)]
    [DataRow(RouterKind.TopKSoftmax)]
    public void TiesGoToTheLowerExpertIndex(RouterKind kind)
    {
        float[] logits = [0.5f, 2f, 1f, 2f, 1f, 2f];
        var ids = new int[3];
        var weights = new float[3];

        new MoeRouter(kind, 6, 3, normalize: true).Route(logits, ids, weights);

        CollectionAssert.AreEqual(new[] { 1, 3, 5 }, ids);
        Assert.AreEqual(weights[0], weights[1]);
        Assert.AreEqual(weights[1], weights[2]);
    }

    [TestMethod]
    public void SelectedExpertsAreListedByDescendingWeight()
    {
        float[] logits = [0f, 3f, -1f, 5f, 4f];
        var ids = new int[3];
        var weights = new float[3];

        new MoeRouter(RouterKind.TopKSoftmax, 5, 3, normalize: false).Route(logits, ids, weights);

        CollectionAssert.AreEqual(new[] { 3, 4, 1 }, ids);
        Assert.IsTrue(weights[0] > weights[1] && weights[1] > weights[2]);
        Assert.AreEqual(1.0, weights.Sum(w => (double)w), 1e-6);
    }

    [TestMethod]
    [DataRow(RouterKind.SoftmaxTopK)]
    [DataRow(RouterKind.TopKSoftmax)]
    public void ANaNLogitGivesNaNWeights(RouterKind kind)
    {
        float[] logits = [0f, float.NaN, 1f, 2f];
        var ids = new int[2];
        var weights = new float[2];

        new MoeRouter(kind, 4, 2, normalize: true).Route(logits, ids, weights);

        Assert.IsTrue(weights.All(float.IsNaN));
    }

    [TestMethod]
    public void AnUnknownRouterKindIsRejectedWithTheSupportedOnes()
    {
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MoeRouter((RouterKind)7, 8, 2, normalize: true));

        StringAssert.Contains(error.Message, "Router kind 7 is not implemented");
        StringAssert.Contains(error.Message, "SoftmaxTopK");
        StringAssert.Contains(error.Message, "TopKSoftmax");
        StringAssert.Contains(error.Message, "DeepSeek-V3");
    }

    [TestMethod]
    public void TheTransformerRejectsAnUnknownRouterKindNamingTheOption()
    {
        var mlContext = new MLContext(seed: 0);
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.LogitRouted((RouterKind)3)));

        Assert.AreEqual(nameof(FusedMoeTransformerOptions.Router), error.ParamName);
    }

    [TestMethod]
    public void ATopKAboveTheExpertCountIsRejectedForTheRouter()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MoeRouter(RouterKind.SoftmaxTopK, 4, 5, normalize: true));
    }

    [TestMethod]
    [DataRow(RouterKind.SoftmaxTopK, 7)]
    [DataRow(RouterKind.TopKSoftmax, 64)]
    public void LogitRoutedRowsEqualColumnRoutedRowsOfTheRoutersChoice(RouterKind kind, int batchSize)
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 50);
        using MoeWeights weights = c.Weights();
        var router = new MoeRouter(kind, MlNetCase.Experts, MlNetCase.TopK, normalize: true);
        var routed = c.Rows.Select(r =>
        {
            var ids = new int[MlNetCase.TopK];
            var w = new float[MlNetCase.TopK];
            router.Route(r.RouterLogits, ids, w);
            return new MoeRow { Index = r.Index, HiddenStates = r.HiddenStates, ExpertIds = ids, RoutingWeights = w, RouterLogits = r.RouterLogits };
        }).ToList();
        IDataView input = mlContext.Data.LoadFromEnumerable(routed);
        using FusedMoeTransformer byLogits = mlContext.Transforms.FusedMoe(weights, MlNetCase.LogitRouted(kind, batchSize)).Fit(input);
        using FusedMoeTransformer byColumns = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input);

        ushort[] expected = MlNetCase.Bits(MlNetCase.ReadVectors(byColumns.Transform(input), "Output"));
        ushort[] actual = MlNetCase.Bits(MlNetCase.ReadVectors(byLogits.Transform(input), "Output"));

        BitAssert.Equal(expected, actual, MlNetCase.Hidden, kind.ToString());
        Assert.IsTrue(actual.Any(b => b != 0));
    }

    [TestMethod]
    public void TheCatalogRouterOverloadTakesKFromTheWeights()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 5);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);

        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe("Output", weights, nameof(MoeRow.HiddenStates), nameof(MoeRow.RouterLogits), RouterKind.TopKSoftmax).Fit(input);

        Assert.AreEqual(RouterKind.TopKSoftmax, transformer.Options.Router);
        Assert.HasCount(5, MlNetCase.ReadVectors(transformer.Transform(input), "Output"));
    }

    /// <summary>The routers written independently, in float64, with a stable sort (ties to the lower index).</summary>
    private static (int[] Ids, double[] Weights) Reference(float[] logits, RouterKind kind, bool normalize)
    {
        IEnumerable<int> Top(double[] values) => Enumerable.Range(0, values.Length).OrderByDescending(i => values[i]).Take(TopK);
        double[] Softmax(double[] v)
        {
            double max = v.Max();
            double[] e = v.Select(x => Math.Exp(x - max)).ToArray();
            return e.Select(x => x / e.Sum()).ToArray();
        }
        double[] values = logits.Select(v => (double)v).ToArray();
        if (kind == RouterKind.SoftmaxTopK)
        {
            double[] p = Softmax(values);
            int[] ids = Top(p).ToArray();
            double[] w = ids.Select(i => p[i]).ToArray();
            return (ids, normalize ? w.Select(x => x / w.Sum()).ToArray() : w);
        }
        int[] top = Top(values).ToArray();
        return (top, Softmax(top.Select(i => values[i]).ToArray()));
    }

    private static float[] RandomLogits(int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, Rows * Experts).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
    }
}
