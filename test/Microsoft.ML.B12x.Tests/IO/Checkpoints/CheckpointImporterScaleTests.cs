using System;
using System.Linq;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>The scale traps of checkpoint-formats.md §7 (T6, T7, T8, T9, T17) and the older scale convention.</summary>
[TestClass]
public sealed class CheckpointImporterScaleTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void DifferingGateUpWeightScalesUseTheLargerAndReexpressTheOtherHalf()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 11 });
        TinyMoeLayer stored = checkpoint.Layers[0];
        stored.Up[1].WeightGlobal = stored.Gate[1]!.WeightGlobal * 0.75f;
        stored.Gate[2]!.WeightGlobal = stored.Up[2].WeightGlobal * 0.6f;
        // The definition after the fix: S = max for both halves, the smaller half's scales re-expressed.
        TinyMoeLayer expected = Clone(stored);
        Reexpress(expected.Up[1], stored.Gate[1]!.WeightGlobal);
        Reexpress(expected.Gate[2]!, stored.Up[2].WeightGlobal);
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, expected: expected, inspect: i => report = i.Report);
        double againstOriginal = CheckpointImportHarness.ImportAndCompare(checkpoint, 0);

        TestContext.WriteLine($"rel L2 vs the fixed definition {error:E2}, vs the checkpoint's own {againstOriginal:E2}");
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        ImportNote note = report!.NotesAbout(ImportIssue.GateUpWeightScalesDiffer).Single();
        CollectionAssert.AreEqual(new[] { 1, 2 }, note.Experts.ToArray());
        Assert.Contains("expert 1", note.Message);
        Assert.Contains("up_proj re-expressed", note.Message);
        Assert.Contains("gate_proj re-expressed", note.Message);
        AssertWithinOneE4M3Rounding(stored.Up[1], expected.Up[1]);
        AssertWithinOneE4M3Rounding(stored.Gate[2]!, expected.Gate[2]!);
    }

    [TestMethod]
    public void MissingModelOptInputScalesAreReplacedByThePeersMaximum()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 12 });
        TinyMoeLayer stored = checkpoint.Layers[1];
        float fc1 = stored.Up[0].InputGlobal!.Value;
        stored.Gate[1]!.InputGlobal = null;
        stored.Up[1].InputGlobal = null;
        stored.Down[2].InputGlobal = null;
        TinyMoeLayer expected = Clone(stored);
        expected.Gate[1]!.InputGlobal = expected.Up[1].InputGlobal = fc1;
        expected.Down[2].InputGlobal = new[] { 0, 1, 3 }.Max(e => stored.Down[e].InputGlobal!.Value);
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 1, expected: expected, inspect: i => report = i.Report);

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        ImportNote[] notes = report!.NotesAbout(ImportIssue.InputScaleReplaced).ToArray();
        Assert.HasCount(2, notes);
        CollectionAssert.AreEqual(new[] { 1 }, notes[0].Experts.ToArray());
        Assert.Contains("model.layers.1.mlp.experts.1.gate_proj.input_scale' missing", notes[0].Message);
        CollectionAssert.AreEqual(new[] { 2 }, notes[1].Experts.ToArray());
        Assert.Contains("down_proj", notes[1].Message);
    }

    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(0f)]
    [DataRow(-3f)]
    [DataRow(float.PositiveInfinity)]
    public void GarbageCompressedTensorsInputScaleIsReplacedAndReported(float garbage)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = CheckpointFormat.CompressedTensors, Seed = 13 });
        TinyMoeLayer stored = checkpoint.Layers[0];
        stored.Down[3].InputGlobal = garbage;
        TinyMoeLayer expected = Clone(stored);
        // The largest multiplier is the reciprocal of the smallest stored value.
        expected.Down[3].InputGlobal = new[] { 0, 1, 2 }.Min(e => stored.Down[e].InputGlobal!.Value);
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, expected: expected, inspect: i => report = i.Report);

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        ImportNote note = report!.NotesAbout(ImportIssue.InputScaleReplaced).Single();
        CollectionAssert.AreEqual(new[] { 3 }, note.Experts.ToArray());
        Assert.Contains("experts.3.down_proj.input_global_scale", note.Message);
    }

    [TestMethod]
    public void FarOutlierInputScaleIsKeptButFlagged()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = CheckpointFormat.CompressedTensors, Seed = 14 });
        checkpoint.Layers[0].Down[1].InputGlobal *= 1e6f;
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, inspect: i => report = i.Report);

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        CollectionAssert.AreEqual(new[] { 1 }, report!.NotesAbout(ImportIssue.InputScaleOutlier).Single().Experts.ToArray());
        Assert.IsEmpty(report.NotesAbout(ImportIssue.InputScaleReplaced));
    }

    [TestMethod]
    public void GateUpInputScalesDifferingAcrossExpertsGiveTheirMaximumAsInputGlobalScale()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 15 });
        TinyMoeLayer stored = checkpoint.Layers[0];
        float larger = stored.Up[2].InputGlobal!.Value * 1.5f;
        stored.Gate[2]!.InputGlobal = stored.Up[2].InputGlobal = larger;
        stored.Gate[0]!.InputGlobal *= 1.25f; // gate and up of one expert disagree too
        float? inputGlobalScale = null;
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, inspect: i =>
        {
            report = i.Report;
            inputGlobalScale = i.Layer.InputGlobalScale!.data<float>()[0];
        });

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        Assert.AreEqual(larger, inputGlobalScale);
        Assert.ContainsSingle(report!.NotesAbout(ImportIssue.InputScalesDifferAcrossExperts));
        CollectionAssert.AreEqual(new[] { 0 }, report.NotesAbout(ImportIssue.GateUpInputScalesDiffer).Single().Experts.ToArray());
    }

    [TestMethod]
    [DataRow(CheckpointFormat.CompressedTensors, float.PositiveInfinity)]
    [DataRow(CheckpointFormat.ModelOpt, 0f)]
    public void ZeroWeightGlobalScaleImportsTheWeightAsZeros(CheckpointFormat format, float stored)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, Seed = 16 });
        checkpoint.Layers[0].Down[1].WeightGlobal = stored;
        ImportReport? report = null;
        byte[]? expertCodes = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, inspect: i =>
        {
            report = i.Report;
            expertCodes = i.Layer.W2Weight[1].data<byte>().ToArray();
        });

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        CollectionAssert.AreEqual(new[] { 1 }, report!.NotesAbout(ImportIssue.AllZeroWeight).Single().Experts.ToArray());
        Assert.IsTrue(expertCodes!.All(b => b == 0));
    }

    [TestMethod]
    public void NegativeBlockScalesAreDecodedAsWrittenAndReported()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 17 });
        checkpoint.Layers[0].Down[0].Scales[5] = 0xD0;
        ImportReport? report = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, inspect: i => report = i.Report);

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        CollectionAssert.AreEqual(new[] { 0 }, report!.NotesAbout(ImportIssue.NegativeBlockScales).Single().Experts.ToArray());
    }

    [TestMethod]
    public void LegacyScalesBakeTheWeightScaleIntoW1AndSayItIsLossy()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 18 });
        TinyMoeLayer stored = checkpoint.Layers[1];
        TinyMoeLayer expected = Clone(stored);
        foreach (StoredProjection p in expected.Gate.Concat(expected.Up).OfType<StoredProjection>())
        {
            p.Scales = p.Scales.Select(b => ReferenceFormats.E4M3Round(ReferenceFormats.E4M3Value(b) * p.WeightGlobal)).ToArray();
            p.WeightGlobal = 1f;
        }
        var options = new CheckpointImportOptions { LegacyScales = true };
        ImportedLayer? kept = null;
        float[]? w1Alpha = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 1, options, expected, inspect: i =>
        {
            kept = i;
            w1Alpha = i.Layer.W1Alpha.data<float>().ToArray();
            Assert.IsNull(i.Layer.InputGlobalScale);
        });
        double againstOriginal = CheckpointImportHarness.ImportAndCompare(checkpoint, 1, options);

        TestContext.WriteLine($"rel L2 vs the baked definition {error:E2}, vs the checkpoint's own {againstOriginal:E2}");
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
        Assert.IsTrue(w1Alpha!.All(a => a == stored.Up[0].InputGlobal), "w1_alpha is the input scale");
        Assert.IsTrue(kept!.Report.LegacyScales);
        Assert.Contains("lossy", kept.Report.NotesAbout(ImportIssue.LegacyScalesLossy).Single().Message);
        Assert.Contains("lossy", kept.Metadata[ImportedLayer.ScaleConventionKey]);
    }

    private static TinyMoeLayer Clone(TinyMoeLayer layer) => new()
    {
        Gate = layer.Gate.Select(p => p?.Clone()).ToArray(),
        Up = layer.Up.Select(p => p.Clone()).ToArray(),
        Down = layer.Down.Select(p => p.Clone()).ToArray(),
    };

    /// <summary>The test's own re-expression: scale' = E4M3(fp32(fp32(scale · S_half) / S)), then S for the half.</summary>
    private static void Reexpress(StoredProjection half, float larger)
    {
        float own = half.WeightGlobal;
        half.Scales = half.Scales.Select(b =>
        {
            float product = ReferenceFormats.E4M3Value(b) * own;
            return ReferenceFormats.E4M3Round(product / larger);
        }).ToArray();
        half.WeightGlobal = larger;
    }

    /// <summary>
    /// Every re-expressed block scale with a normal E4M3 result is within half an E4M3 ulp (2^-4 relative, 3
    /// mantissa bits) of the exact rescaled value, so each weight moves by at most that much.
    /// </summary>
    private static void AssertWithinOneE4M3Rounding(StoredProjection original, StoredProjection reexpressed)
    {
        int normal = 0;
        for (int i = 0; i < original.Scales.Length; i++)
        {
            double exact = ReferenceFormats.E4M3Value(original.Scales[i]) * (double)original.WeightGlobal;
            double actual = ReferenceFormats.E4M3Value(reexpressed.Scales[i]) * (double)reexpressed.WeightGlobal;
            if (Math.Abs(ReferenceFormats.E4M3Value(reexpressed.Scales[i])) >= 1.0 / 64)
            {
                normal++;
                Assert.IsLessThanOrEqualTo(Math.Abs(exact) / 16 * (1 + 1e-6), Math.Abs(actual - exact), $"block {i}");
            }
        }
        Assert.IsGreaterThan(original.Scales.Length / 2, normal);
    }
}
