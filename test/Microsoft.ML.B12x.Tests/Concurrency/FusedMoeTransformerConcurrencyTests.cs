using System;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Concurrency;

/// <summary>
/// One <see cref="FusedMoeTransformer"/> used by many threads at once (its own views, cursors over one shared view,
/// a PredictionEngine each) gives every thread the bits of one direct call (batched and unbatched results are
/// bit-identical on the CPU, api.md "ML.NET specifics").
/// </summary>
[TestClass]
public sealed class FusedMoeTransformerConcurrencyTests
{
    private const int Threads = 8;

    /// <summary>Tokens of the case: each thread's share is 12 rows, in 5-row batches (a partial last batch).</summary>
    private const int Tokens = Threads * 12;

    [TestMethod]
    public void ThreadsTransformingTheirOwnRowsWithOneTransformerGetTheBitsOfOneCall()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: Tokens, seed: 71);
        ushort[] expected = c.ExpectedBits();
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 5)).Fit(c.DataView(mlContext));
        IDataView[] views = Enumerable.Range(0, Threads)
            .Select(t => mlContext.Data.LoadFromEnumerable(c.Rows.Skip(12 * t).Take(12).ToList()))
            .ToArray();

        ThreadsTogether.Run(Threads, thread =>
        {
            ushort[] actual = MlNetCase.Bits(MlNetCase.ReadVectors(transformer.Transform(views[thread]), "Output"));
            return BitAssert.FirstDifference(expected.AsSpan(12 * thread * MlNetCase.Hidden, 12 * MlNetCase.Hidden).ToArray(), actual, MlNetCase.Hidden, $"thread {thread}");
        });
    }

    [TestMethod]
    public void CursorsOverOneTransformedViewOnManyThreadsGetTheBitsOfOneCall()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: Tokens, seed: 72);
        ushort[] expected = c.ExpectedBits();
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 7)).Fit(input);
        IDataView output = transformer.Transform(input);

        ThreadsTogether.Run(Threads, thread => BitAssert.FirstDifference(expected, MlNetCase.Bits(MlNetCase.ReadVectors(output, "Output")), MlNetCase.Hidden, $"cursor of thread {thread}"));
    }

    [TestMethod]
    public void APredictionEnginePerThreadOverOneTransformerGetsTheBitsOfOneCall()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: Tokens, seed: 73);
        ushort[] expected = c.ExpectedBits();
        using MoeWeights weights = c.Weights();
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext));
        // A PredictionEngine is not thread-safe: one per thread, all over the one transformer.
        PredictionEngine<MoeRow, MoeOutputRow>[] engines = Enumerable.Range(0, Threads)
            .Select(_ => mlContext.Model.CreatePredictionEngine<MoeRow, MoeOutputRow>(transformer))
            .ToArray();
        try
        {
            ThreadsTogether.Run(Threads, thread =>
            {
                // Every thread predicts every row, starting at a different one.
                for (int i = 0; i < Tokens; i++)
                {
                    int row = (i + 11 * thread) % Tokens;
                    ushort[] actual = MlNetCase.Bits([engines[thread].Predict(c.Rows[row]).Output]);
                    string? failure = BitAssert.FirstDifference(expected.AsSpan(row * MlNetCase.Hidden, MlNetCase.Hidden).ToArray(), actual, MlNetCase.Hidden, $"thread {thread}, row {row}");
                    if (failure is not null)
                    {
                        return failure;
                    }
                }
                return null;
            });
        }
        finally
        {
            Array.ForEach(engines, e => e.Dispose());
        }
    }
}
