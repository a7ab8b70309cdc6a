using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
public sealed class FusedMoeBatchingTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(64)]
    public void BatchedRowsEqualOneCallOverAllRowsBitForBitAndInOrder(int batchSize)
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 100);
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted(batchSize)).Fit(c.DataView(mlContext));

        List<float[]> output = MlNetCase.ReadVectors(transformer.Transform(c.DataView(mlContext)), "Output");

        Assert.HasCount(100, output);
        Assert.IsTrue(output.Count(r => r.Any(v => v != 0)) > 50, "most rows are not zero");
        MlNetCase.AssertWidenedBFloat16(output);
        BitAssert.Equal(c.ExpectedBits(), MlNetCase.Bits(output), MlNetCase.Hidden, $"batch size {batchSize}");
    }

    [TestMethod]
    [DataRow(1, 100)]
    [DataRow(7, 15)]
    [DataRow(64, 2)]
    [DataRow(256, 1)]
    public void EachBatchIsOneFusedCall(int batchSize, int expectedCalls)
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 100);
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted(batchSize)).Fit(c.DataView(mlContext));

        MlNetCase.ReadVectors(transformer.Transform(c.DataView(mlContext)), "Output");

        Assert.AreEqual(expectedCalls, transformer.FusedCalls);
    }

    [TestMethod]
    public void PassThroughColumnsKeepTheirValuesAndOrder()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 30);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 7)).Fit(input);

        IDataView output = transformer.Transform(input);
        int[] indices = output.GetColumn<int>(nameof(MoeRow.Index)).ToArray();
        float[][] hidden = output.GetColumn<float[]>(nameof(MoeRow.HiddenStates)).ToArray();

        CollectionAssert.AreEqual(Enumerable.Range(0, 30).ToArray(), indices);
        for (int t = 0; t < 30; t++)
        {
            CollectionAssert.AreEqual(c.Rows[t].HiddenStates, hidden[t], $"row {t}");
        }
    }

    [TestMethod]
    public void OutputAndPassThroughColumnsReadTogetherStayAligned()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 40);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 7)).Fit(input);

        var rows = mlContext.Data.CreateEnumerable<IndexedOutput>(transformer.Transform(input), reuseRowObject: false).ToList();
        ushort[] expected = c.ExpectedBits();

        CollectionAssert.AreEqual(Enumerable.Range(0, 40).ToArray(), rows.Select(r => r.Index).ToArray());
        BitAssert.Equal(expected, MlNetCase.Bits(rows.Select(r => r.Output)), MlNetCase.Hidden, "rows read as objects");
    }

    [TestMethod]
    public void TheLookAheadCursorIsOpenedOnlyWhenTheOutputColumnIsRead()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 10);
        using MoeWeights weights = c.Weights();
        var input = new CursorCountingView(c.DataView(mlContext));
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 4)).Fit(input);
        IDataView output = transformer.Transform(input);

        int[] indices = output.GetColumn<int>(nameof(MoeRow.Index)).ToArray();
        Assert.AreEqual(1, input.CursorsOpened, "reading a pass-through column opens one input cursor");
        Assert.AreEqual(0, transformer.FusedCalls, "nothing runs unless the output is read");

        MlNetCase.ReadVectors(output, "Output");
        Assert.AreEqual(3, input.CursorsOpened, "reading the output opens an input cursor and a look-ahead cursor");
        Assert.AreEqual(3, transformer.FusedCalls);
        Assert.HasCount(10, indices);
    }

    [TestMethod]
    public void AnOutputNamedLikeAnInputColumnHidesIt()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 5);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted() with { OutputColumnName = nameof(MoeRow.HiddenStates) }).Fit(input);

        IDataView output = transformer.Transform(input);

        Assert.AreEqual(input.Schema.Count + 1, output.Schema.Count);
        Assert.IsTrue(output.Schema[input.Schema[nameof(MoeRow.HiddenStates)].Index].IsHidden);
        BitAssert.Equal(c.ExpectedBits(), MlNetCase.Bits(MlNetCase.ReadVectors(output, nameof(MoeRow.HiddenStates))),
            MlNetCase.Hidden, "output under the input's name");
    }

    [TestMethod]
    [DataRow(0x7FFFu, DisplayName = "below the midpoint: rounds back")]
    [DataRow(0x8000u, DisplayName = "at the midpoint: ties to even")]
    [DataRow(0x8001u, DisplayName = "above the midpoint: rounds away")]
    public void HiddenStatesAreRoundedToBFloat16NearestEvenBeforeTheLayerRuns(uint lowBits)
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 12);
        using MoeWeights weights = c.Weights();
        // Each float is a bf16 value b with its 16 low bits set to lowBits; round-to-nearest-even gives b, b + (b & 1)
        // or b + 1 (the magnitude grows for either sign).
        ushort Rounded(ushort b) => lowBits switch { < 0x8000u => b, 0x8000u => (ushort)(b + (b & 1)), _ => (ushort)(b + 1) };
        var nudged = c.Rows.Select(r => new MoeRow
        {
            Index = r.Index, ExpertIds = r.ExpertIds, RoutingWeights = r.RoutingWeights, RouterLogits = r.RouterLogits,
            HiddenStates = r.HiddenStates.Select(v => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) | lowBits)).ToArray(),
        }).ToList();
        IDataView input = mlContext.Data.LoadFromEnumerable(nudged);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input);

        List<float[]> output = MlNetCase.ReadVectors(transformer.Transform(input), "Output");

        ushort[] expected = MoeCaseRunner.Run(c.Data.With(x: c.Data.X.Select(Rounded).ToArray()));
        BitAssert.Equal(expected, MlNetCase.Bits(output), MlNetCase.Hidden, $"low bits 0x{lowBits:X4}");
    }

    [TestMethod]
    public void ANaNHiddenStateGivesANaNRowAndLeavesTheOthers()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 10);
        using MoeWeights weights = c.Weights();
        c.Rows[3].HiddenStates[5] = float.NaN;
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(input);

        List<float[]> output = MlNetCase.ReadVectors(transformer.Transform(input), "Output");

        Assert.IsTrue(c.Rows[3].ExpertIds.Any(id => id is >= 0 and < MlNetCase.Experts), "row 3 has a valid pair");
        Assert.IsTrue(output[3].All(float.IsNaN), "row 3 is all NaN");
        ushort[] expected = c.ExpectedBits();
        for (int t = 0; t < 10; t++)
        {
            if (t != 3)
            {
                BitAssert.Equal(expected.Skip(t * MlNetCase.Hidden).Take(MlNetCase.Hidden).ToArray(), MlNetCase.Bits([output[t]]), MlNetCase.Hidden, $"row {t}");
            }
        }
    }

    private sealed class IndexedOutput
    {
        public int Index { get; set; }

        [VectorType(MlNetCase.Hidden)]
        public float[] Output { get; set; } = [];
    }

    /// <summary>Passes an input view through, counting the cursors opened on it.</summary>
    private sealed class CursorCountingView(IDataView inner) : IDataView
    {
        public int CursorsOpened { get; private set; }

        public bool CanShuffle => inner.CanShuffle;

        public DataViewSchema Schema => inner.Schema;

        public long? GetRowCount() => inner.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            CursorsOpened++;
            return inner.GetRowCursor(columnsNeeded, rand);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        {
            CursorsOpened++;
            return inner.GetRowCursorSet(columnsNeeded, n, rand);
        }
    }
}
