using System;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

[TestClass]
public sealed class CheckpointImporterTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(CheckpointFormat.ModelOpt, "Qwen")]
    [DataRow(CheckpointFormat.ModelOpt, "Mixtral")]
    [DataRow(CheckpointFormat.ModelOpt, "Nemotron")]
    [DataRow(CheckpointFormat.CompressedTensors, "Qwen")]
    [DataRow(CheckpointFormat.CompressedTensors, "Mixtral")]
    public void ImportedLayerComputesTheCheckpointsFunction(CheckpointFormat format, string names)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, Names = Enum.Parse<ExpertNames>(names), Seed = 1 });

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, layer: 1);

        TestContext.WriteLine($"rel L2 vs the checkpoint's definition: {error:E2}");
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
    }

    [TestMethod]
    [DataRow(CheckpointFormat.ModelOpt)]
    [DataRow(CheckpointFormat.CompressedTensors)]
    public void WeightOnlyCheckpointImportsAsW4A16WithoutActivationScales(CheckpointFormat format)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, WeightOnly = true, Seed = 2 });
        (MoeQuantMode Mode, bool InputGlobalScale, bool Fc2InputScale)? seen = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, inspect: imported =>
            seen = (imported.Layer.Config.QuantMode, imported.Layer.InputGlobalScale is not null, imported.Layer.Fc2InputScale is not null));

        Assert.AreEqual((MoeQuantMode.W4A16, false, false), seen);
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ScalarGlobalScalesOfShapeEmptyAndOneAreBothRead(bool asVectors)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { ScalarsAsVectors = asVectors, Seed = 3 });

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0);

        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
    }

    [TestMethod]
    public void ShardedCheckpointOpensOnlyTheShardsHoldingTheLayer()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Sharded = true, Seed = 4 });
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);

        using ImportedLayer first = CheckpointImporter.ImportLayer(directory.Path, 0);
        using ImportedLayer second = CheckpointImporter.ImportLayer(directory.Path, 1);

        CollectionAssert.AreEqual(new[] { "model-00001-of-00002.safetensors" }, first.Report.FilesRead.ToArray());
        CollectionAssert.AreEquivalent(new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" }, second.Report.FilesRead.ToArray());
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, CheckpointImportHarness.Compare(checkpoint, second, checkpoint.Layers[1]));
    }

    [TestMethod]
    public void W1HoldsUpRowsThenGateRowsAndScalesAreSwizzled()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 5 });
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        int experts = checkpoint.Spec.Experts, hidden = checkpoint.Spec.Hidden, intermediate = checkpoint.Spec.Intermediate;

        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, 1);
        MoeLayerData layer = imported.Layer;
        byte[] w1 = layer.W1Weight.data<byte>().ToArray();
        byte[] w1Scales = layer.W1WeightSf.data<byte>().ToArray();
        byte[] w2Scales = layer.W2WeightSf.data<byte>().ToArray();

        Assert.AreEqual(ScaleLayout.Swizzled128x4, layer.Config.ScaleLayout);
        TinyMoeLayer stored = checkpoint.Layers[1];
        byte[] expectedCodes = Enumerable.Range(0, experts).SelectMany(e => stored.Up[e].Codes.Concat(stored.Gate[e]!.Codes)).ToArray();
        byte[] linearW1 = Enumerable.Range(0, experts).SelectMany(e => stored.Up[e].Scales.Concat(stored.Gate[e]!.Scales)).ToArray();
        byte[] linearW2 = Enumerable.Range(0, experts).SelectMany(e => stored.Down[e].Scales).ToArray();
        CollectionAssert.AreEqual(expectedCodes, w1);
        CollectionAssert.AreEqual(ReferenceSwizzle.FromLinear(linearW1, experts, 2 * intermediate, hidden / 16), w1Scales);
        CollectionAssert.AreEqual(ReferenceSwizzle.FromLinear(linearW2, experts, hidden, intermediate / 16), w2Scales);
    }

    [TestMethod]
    public void LinearLayoutOptionKeepsTheCheckpointsScaleBytes()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Names = ExpertNames.Mixtral, Seed = 6 });
        var options = new CheckpointImportOptions { ScaleLayout = ScaleLayout.Linear };
        byte[]? w2Scales = null;

        double error = CheckpointImportHarness.ImportAndCompare(checkpoint, 0, options, inspect: i => w2Scales = i.Layer.W2WeightSf.data<byte>().ToArray());

        CollectionAssert.AreEqual(checkpoint.Layers[0].Down.SelectMany(p => p.Scales).ToArray(), w2Scales);
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, error);
    }

    [TestMethod]
    [DataRow(CheckpointFormat.ModelOpt)]
    [DataRow(CheckpointFormat.CompressedTensors)]
    public void ScalarArgumentsFollowTheDocumentedMapping(CheckpointFormat format)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, Seed = 7 });
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        TinyMoeLayer stored = checkpoint.Layers[0];
        float Multiplier(float value) => format == CheckpointFormat.CompressedTensors ? 1f / value : value;

        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, 0);
        MoeLayerData layer = imported.Layer;

        float[] fc2 = stored.Down.Select(p => Multiplier(p.InputGlobal!.Value)).ToArray();
        CollectionAssert.AreEqual(stored.Gate.Select(p => Multiplier(p!.WeightGlobal)).ToArray(), layer.W1Alpha.data<float>().ToArray());
        CollectionAssert.AreEqual(new[] { stored.Up.Max(p => Multiplier(p.InputGlobal!.Value)) }, layer.InputGlobalScale!.data<float>().ToArray());
        CollectionAssert.AreEqual(fc2, layer.Fc2InputScale!.data<float>().ToArray());
        CollectionAssert.AreEqual(stored.Down.Select((p, e) => fc2[e] * Multiplier(p.WeightGlobal)).ToArray(), layer.W2Alpha.data<float>().ToArray());
        Assert.AreEqual(checkpoint.Spec.TopK, layer.Config.TopK);
        Assert.AreEqual(MoeSourceFormat.ModelOpt, layer.Config.SourceFormat);
    }

    [TestMethod]
    public void ReportDescribesTheSourceAndTheScaleMapping()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Names = ExpertNames.Mixtral, Format = CheckpointFormat.CompressedTensors, Seed = 8 });
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);

        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, 1);
        string text = imported.Report.ToString();

        Assert.AreEqual(CheckpointFormat.CompressedTensors, imported.Report.Format);
        Assert.AreEqual("model.layers.1.block_sparse_moe.experts.{e}.{w1,w3,w2}", imported.Report.ExpertNaming);
        Assert.AreEqual("mixtral", imported.Report.ModelType);
        Assert.AreEqual(4 * 3 * 4, imported.Report.TensorsRead); // 4 experts × 3 projections × (codes, scales, two globals)
        Assert.IsEmpty(imported.Report.Notes);
        Assert.Contains("compressed-tensors nvfp4-pack-quantized", text);
        Assert.Contains("input_global_scale [1]", text);
        Assert.Contains("fc2_input_scale [E]", text);
        Assert.Contains("S = fp32(1 / stored)", text);
    }

    [TestMethod]
    public void DequantisedImportedWeightsEqualTheCheckpointsWeights()
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = CheckpointFormat.CompressedTensors, Names = ExpertNames.Nemotron, Seed = 9 });
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        int intermediate = checkpoint.Spec.Intermediate, hidden = checkpoint.Spec.Hidden;

        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, 0);
        using Tensor scales = Nvfp4Quantizer.UnswizzleScales(imported.Layer.W1WeightSf, intermediate, hidden);
        using Tensor w1 = Nvfp4Quantizer.DequantizeWeights(imported.Layer.W1Weight, scales, imported.Layer.W1Alpha);
        float[] actual = w1.data<float>().ToArray();

        Assert.AreEqual(MoeActivation.Relu2, imported.Layer.Config.Activation);
        double[] expected = checkpoint.Layers[0].Up.SelectMany(p => CheckpointReference.Dequantize(p, CheckpointFormat.CompressedTensors)).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i], Math.Abs(expected[i]) * 1e-6, $"element {i}");
        }
    }
}
