using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.MLNet;

/// <summary>One row of the ML.NET tests' input: H = 64, K = 2, E = 8 (the sizes of <see cref="MlNetCase"/>).</summary>
public sealed class MoeRow
{
    public int Index { get; set; }

    [VectorType(MlNetCase.Hidden)]
    public float[] HiddenStates { get; set; } = [];

    [VectorType(MlNetCase.TopK)]
    public int[] ExpertIds { get; set; } = [];

    [VectorType(MlNetCase.TopK)]
    public float[] RoutingWeights { get; set; } = [];

    [VectorType(MlNetCase.Experts)]
    public float[] RouterLogits { get; set; } = [];
}

/// <summary>What a PredictionEngine returns.</summary>
public sealed class MoeOutputRow
{
    [VectorType(MlNetCase.Hidden)]
    public float[] Output { get; set; } = [];
}

/// <summary>
/// A generated MoE case (deliberate scales, invalid ids mixed in; see <see cref="MoeCaseGenerator"/>) as ML.NET rows
/// and as <see cref="MoeWeights"/>, with its expected output computed by one direct <see cref="B12xOps.FusedMoe"/>
/// call on every token at once.
/// </summary>
internal sealed class MlNetCase
{
    public const int Hidden = 64, Intermediate = 32, Experts = 8, TopK = 2;

    private MlNetCase(MoeCaseData data)
    {
        Data = data;
        Random random = new(data.Tokens + 17);
        Rows = Enumerable.Range(0, data.Tokens).Select(t => new MoeRow
        {
            Index = t,
            HiddenStates = data.X.Skip(t * Hidden).Take(Hidden).Select(b => BitAssert.ToSingle(b)).ToArray(),
            ExpertIds = data.Ids.Skip(t * TopK).Take(TopK).Select(id => checked((int)id)).ToArray(),
            RoutingWeights = data.RoutingWeights.Skip(t * TopK).Take(TopK).ToArray(),
            RouterLogits = Enumerable.Range(0, Experts).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray(),
        }).ToList();
    }

    public MoeCaseData Data { get; }

    public List<MoeRow> Rows { get; }

    public static MlNetCase Create(int tokens = 100, int seed = 1) => new(MoeCaseGenerator.Create(
        new MoeCaseSpec(tokens, Hidden, Intermediate, Experts, TopK, Seed: seed)));

    /// <summary>Fresh CPU weights of the case (the caller disposes them).</summary>
    public MoeWeights Weights() => MoeCaseWeights.Create(Data);

    /// <summary>The output bits of one direct call over all tokens.</summary>
    public ushort[] ExpectedBits() => MoeCaseRunner.Run(Data);

    public IDataView DataView(MLContext mlContext) => mlContext.Data.LoadFromEnumerable(Rows);

    /// <summary>Options routed by the id and weight columns, on the CPU.</summary>
    public static FusedMoeTransformerOptions ColumnRouted(int batchSize = FusedMoeTransformerOptions.DefaultBatchSize) => new()
    {
        OutputColumnName = "Output",
        HiddenStatesColumnName = nameof(MoeRow.HiddenStates),
        ExpertIdsColumnName = nameof(MoeRow.ExpertIds),
        RoutingWeightsColumnName = nameof(MoeRow.RoutingWeights),
        Device = ComputeDevice.Cpu,
        BatchSize = batchSize,
    };

    /// <summary>Options routed by the router from the logits column, on the CPU.</summary>
    public static FusedMoeTransformerOptions LogitRouted(RouterKind router, int batchSize = FusedMoeTransformerOptions.DefaultBatchSize) => new()
    {
        OutputColumnName = "Output",
        HiddenStatesColumnName = nameof(MoeRow.HiddenStates),
        RouterLogitsColumnName = nameof(MoeRow.RouterLogits),
        Router = router,
        Device = ComputeDevice.Cpu,
        BatchSize = batchSize,
    };

    /// <summary>Reads a float column of vectors (in row order) from a view.</summary>
    public static List<float[]> ReadVectors(IDataView view, string column)
    {
        DataViewSchema.Column col = view.Schema[column];
        var rows = new List<float[]>();
        using DataViewRowCursor cursor = view.GetRowCursor(new[] { col });
        ValueGetter<VBuffer<float>> getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            rows.Add(buffer.DenseValues().ToArray());
        }
        return rows;
    }

    /// <summary>Output rows of floats as bf16 bits (exact: every output value is a widened bfloat16).</summary>
    public static ushort[] Bits(IEnumerable<float[]> rows) =>
        rows.SelectMany(r => r).Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray();

    /// <summary>Asserts every float is a widened bfloat16 (low 16 bits zero), so <see cref="Bits"/> loses nothing.</summary>
    public static void AssertWidenedBFloat16(IEnumerable<float[]> rows)
    {
        foreach (float v in rows.SelectMany(r => r))
        {
            Microsoft.VisualStudio.TestTools.UnitTesting.Assert.AreEqual(0u, BitConverter.SingleToUInt32Bits(v) & 0xFFFF, $"{v:R} is not a bfloat16 value");
        }
    }
}
