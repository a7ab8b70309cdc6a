using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
public sealed class FusedMoeSchemaTests
{
    [TestMethod]
    public void FitAddsAVectorOfSingleOfLengthHAfterTheInputColumns()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input);

        DataViewSchema schema = transformer.GetOutputSchema(input.Schema);

        Assert.AreEqual(input.Schema.Count + 1, schema.Count);
        Assert.AreEqual("Output", schema[^1].Name);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, MlNetCase.Hidden), schema[^1].Type);
    }

    [TestMethod]
    public void EstimatorShapeAddsAKnownSizeVectorOfSingle()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        SchemaShape inputShape = mlContext.Transforms.CopyColumns("Copy", nameof(MoeRow.Index)).GetOutputSchema(ShapeOf(mlContext, input));

        SchemaShape shape = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).GetOutputSchema(inputShape);

        SchemaShape.Column output = shape.Single(col => col.Name == "Output");
        Assert.AreEqual(SchemaShape.Column.VectorKind.Vector, output.Kind);
        Assert.AreEqual(NumberDataViewType.Single, output.ItemType);
        Assert.IsFalse(output.IsKey);
        Assert.AreEqual(inputShape.Count + 1, shape.Count);
    }

    [TestMethod]
    public void AnEstimatorChainWithTheTransformFitsAndRuns()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 9);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        var pipeline = mlContext.Transforms.CopyColumns("X", nameof(MoeRow.HiddenStates))
            .Append(mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted() with { HiddenStatesColumnName = "X" }));

        var model = pipeline.Fit(input);
        var output = MlNetCase.ReadVectors(model.Transform(input), "Output");

        Infrastructure.BitAssert.Equal(c.ExpectedBits(), MlNetCase.Bits(output), MlNetCase.Hidden, "through a chain");
        model.LastTransformer.Dispose();
    }

    [TestMethod]
    [DataRow(nameof(MoeRow.HiddenStates), "hidden states", "Vector<Single, 64>")]
    [DataRow(nameof(MoeRow.ExpertIds), "expert ids", "Vector<Int32, 2>")]
    [DataRow(nameof(MoeRow.RoutingWeights), "routing weights", "Vector<Single, 2>")]
    public void AMissingColumnFailsAtFitNamingItAndTheExpectedType(string column, string role, string expected)
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = mlContext.Transforms.DropColumns(column).Fit(c.DataView(mlContext)).Transform(c.DataView(mlContext));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input));

        StringAssert.Contains(error.Message, $"Column '{column}' ({role}) was not found");
        StringAssert.Contains(error.Message, expected);
    }

    [TestMethod]
    public void AWrongItemTypeFailsAtFitNamingTheColumnAndTheExpectedType()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = mlContext.Data.LoadFromEnumerable(c.Rows.Select(r => new FloatIdsRow
        {
            HiddenStates = r.HiddenStates, ExpertIds = r.ExpertIds.Select(i => (float)i).ToArray(), RoutingWeights = r.RoutingWeights,
        }));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input));

        StringAssert.Contains(error.Message, "Column 'ExpertIds' (expert ids) has type Vector<Single, 2>");
        StringAssert.Contains(error.Message, "expected Vector<Int32, 2> (VBuffer<int> of known size 2)");
    }

    [TestMethod]
    public void AWrongVectorLengthFailsAtFitNamingTheColumnAndTheExpectedLength()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = mlContext.Data.LoadFromEnumerable(c.Rows.Select(r => new ShortHiddenRow
        {
            HiddenStates = r.HiddenStates.Take(32).ToArray(), ExpertIds = r.ExpertIds, RoutingWeights = r.RoutingWeights,
        }));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input));

        StringAssert.Contains(error.Message, "Column 'HiddenStates' (hidden states) has type Vector<Single, 32>");
        StringAssert.Contains(error.Message, "expected Vector<Single, 64>");
    }

    [TestMethod]
    public void AVariableLengthVectorIsRejected()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = mlContext.Data.LoadFromEnumerable(c.Rows.Select(r => new VariableWeightsRow
        {
            HiddenStates = r.HiddenStates, ExpertIds = r.ExpertIds, RoutingWeights = r.RoutingWeights,
        }));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input));

        StringAssert.Contains(error.Message, "Column 'RoutingWeights' (routing weights) has type Vector<Single>");
        StringAssert.Contains(error.Message, "expected Vector<Single, 2>");
    }

    [TestMethod]
    public void TheRouterLogitsColumnMustHaveLengthE()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input);
        var options = MlNetCase.LogitRouted(RouterKind.SoftmaxTopK) with { RouterLogitsColumnName = nameof(MoeRow.RoutingWeights) };

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => mlContext.Transforms.FusedMoe(weights, options).Fit(input));

        StringAssert.Contains(error.Message, "Column 'RoutingWeights' (router logits) has type Vector<Single, 2>");
        StringAssert.Contains(error.Message, "expected Vector<Single, 8>");
    }

    [TestMethod]
    public void TheTransformerChecksASchemaGivenLater()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext));
        IDataView other = mlContext.Data.LoadFromEnumerable(new[] { new ShortHiddenRow() });

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => transformer.GetOutputSchema(other.Schema));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => transformer.Transform(other));
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => transformer.GetRowToRowMapper(other.Schema));
        StringAssert.Contains(error.Message, "'HiddenStates'");
    }

    [TestMethod]
    public void TheEstimatorShapeCheckNamesAScalarColumnAndTheExpectedType()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        SchemaShape shape = ShapeOf(mlContext, c.DataView(mlContext));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted() with { HiddenStatesColumnName = nameof(MoeRow.Index) }).GetOutputSchema(shape));

        StringAssert.Contains(error.Message, "Column 'Index' (hidden states) has type Int32");
        StringAssert.Contains(error.Message, "expected Vector<Single> of known size (VBuffer<float>)");
    }

    [TestMethod]
    public void RoutingByColumnsAndByARouterAtOnceIsRejected()
    {
        var mlContext = new MLContext(seed: 0);
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();
        var options = MlNetCase.ColumnRouted() with { RouterLogitsColumnName = nameof(MoeRow.RouterLogits) };

        var error = Assert.ThrowsExactly<ArgumentException>(() => mlContext.Transforms.FusedMoe(weights, options));

        Assert.AreEqual(nameof(FusedMoeTransformerOptions.RouterLogitsColumnName), error.ParamName);
        StringAssert.Contains(error.Message, "not both");
    }

    [TestMethod]
    public void AMissingRoutingWeightsColumnNameIsRejected()
    {
        var mlContext = new MLContext(seed: 0);
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();

        var error = Assert.ThrowsExactly<ArgumentException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted() with { RoutingWeightsColumnName = null }));

        Assert.AreEqual(nameof(FusedMoeTransformerOptions.RoutingWeightsColumnName), error.ParamName);
    }

    [TestMethod]
    public void ATopKThatContradictsTheWeightsIsRejected()
    {
        var mlContext = new MLContext(seed: 0);
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();

        var error = Assert.ThrowsExactly<ArgumentException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted() with { TopK = 3 }));

        Assert.AreEqual(nameof(FusedMoeTransformerOptions.TopK), error.ParamName);
        StringAssert.Contains(error.Message, "top_k = 2");
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(-5)]
    public void ABatchSizeBelowOneIsRejected(int batchSize)
    {
        var mlContext = new MLContext(seed: 0);
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize)));

        Assert.AreEqual(nameof(FusedMoeTransformerOptions.BatchSize), error.ParamName);
    }

    [TestMethod]
    public void NegativeStrategyThresholdsAreRejectedWhenTheTransformerIsMade()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 1);
        using MoeWeights weights = c.Weights();

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted() with { MicroMaxPairs = -1 }).Fit(c.DataView(mlContext)));
    }

    /// <summary>The shape ML.NET's estimator chains derive from a schema (its factory is internal, so reflection).</summary>
    private static SchemaShape ShapeOf(MLContext mlContext, IDataView input) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!
            .Invoke(null, [input.Schema])!;

    private sealed class FloatIdsRow
    {
        [VectorType(MlNetCase.Hidden)]
        public float[] HiddenStates { get; set; } = [];

        [VectorType(MlNetCase.TopK)]
        public float[] ExpertIds { get; set; } = [];

        [VectorType(MlNetCase.TopK)]
        public float[] RoutingWeights { get; set; } = [];
    }

    private sealed class ShortHiddenRow
    {
        [VectorType(32)]
        public float[] HiddenStates { get; set; } = new float[32];

        [VectorType(MlNetCase.TopK)]
        public int[] ExpertIds { get; set; } = new int[MlNetCase.TopK];

        [VectorType(MlNetCase.TopK)]
        public float[] RoutingWeights { get; set; } = new float[MlNetCase.TopK];
    }

    private sealed class VariableWeightsRow
    {
        [VectorType(MlNetCase.Hidden)]
        public float[] HiddenStates { get; set; } = [];

        [VectorType(MlNetCase.TopK)]
        public int[] ExpertIds { get; set; } = [];

        public float[] RoutingWeights { get; set; } = [];
    }
}
