using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
public sealed class FusedMoePredictionEngineTests
{
    [TestMethod]
    public void APredictionEngineGivesTheSameBitsAsTheBatchedView()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 12);
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext));
        using var engine = mlContext.Model.CreatePredictionEngine<MoeRow, MoeOutputRow>(transformer);

        ushort[] actual = MlNetCase.Bits(c.Rows.Select(row => engine.Predict(row).Output.ToArray()));

        BitAssert.Equal(c.ExpectedBits(), actual, MlNetCase.Hidden, "one row per call");
        Assert.AreEqual(12, transformer.FusedCalls);
    }

    [TestMethod]
    public void APredictionEngineOverAChainRoutesByLogits()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 6);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        var chain = mlContext.Transforms.CopyColumns("Logits", nameof(MoeRow.RouterLogits))
            .Append(mlContext.Transforms.FusedMoe(weights, MlNetCase.LogitRouted(RouterKind.TopKSoftmax) with { RouterLogitsColumnName = "Logits" }))
            .Fit(input);
        using var engine = mlContext.Model.CreatePredictionEngine<MoeRow, MoeOutputRow>(chain);

        ushort[] predicted = MlNetCase.Bits(c.Rows.Select(row => engine.Predict(row).Output.ToArray()));
        ushort[] batched = MlNetCase.Bits(MlNetCase.ReadVectors(chain.Transform(input), "Output"));

        BitAssert.Equal(batched, predicted, MlNetCase.Hidden, "prediction engine vs batched view");
        chain.LastTransformer.Dispose();
    }
}
