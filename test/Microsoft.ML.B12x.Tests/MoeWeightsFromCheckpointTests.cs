using System;
using System.Linq;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests;

[TestClass]
public sealed class MoeWeightsFromCheckpointTests
{
    [TestMethod]
    public void FromCheckpointHoldsTheImportedLayerAndReturnsTheReport()
    {
        using var directory = new TemporaryDirectory();
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Format = CheckpointFormat.CompressedTensors, Seed = 61 });
        checkpoint.Write(directory.Path);

        using MoeWeights weights = MoeWeights.FromCheckpoint(directory.Path, 1, out ImportReport report, device: ComputeDevice.Cpu);
        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, 1);

        Assert.AreEqual(imported.Layer.Config, weights.Config);
        Assert.AreEqual(CheckpointFormat.CompressedTensors, report.Format);
        Assert.AreEqual(1, report.Layer);
        CollectionAssert.AreEqual(imported.Layer.W1Weight.data<byte>().ToArray(), weights.W1Weight.data<byte>().ToArray());
        CollectionAssert.AreEqual(imported.Layer.W2WeightSf.data<byte>().ToArray(), weights.W2WeightSf.data<byte>().ToArray());
        CollectionAssert.AreEqual(imported.Layer.W2Alpha.data<float>().ToArray(), weights.W2Alpha.data<float>().ToArray());
        CollectionAssert.AreEqual(imported.Layer.InputGlobalScale!.data<float>().ToArray(), weights.InputGlobalScale!.data<float>().ToArray());
    }

    [TestMethod]
    public void FromCheckpointComputesTheCheckpointsFunction()
    {
        using var directory = new TemporaryDirectory();
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Names = ExpertNames.Mixtral, Seed = 62 });
        checkpoint.Write(directory.Path);
        TestTokens tokens = TestTokens.Create(8, checkpoint.Spec.Hidden, checkpoint.Spec.Experts, checkpoint.Spec.TopK, seed: 63);

        using MoeWeights weights = MoeWeights.FromCheckpoint(directory.Path, 0, out _, device: ComputeDevice.Cpu);
        using DisposeScope scope = NewDisposeScope();
        Tensor x = tensor(tokens.X, new long[] { tokens.Tokens, tokens.Hidden }).to(ScalarType.BFloat16);
        Tensor output = B12xOps.FusedMoe(x, weights.W1Weight, weights.W1WeightSf, weights.W2Weight, weights.W2WeightSf,
            tensor(tokens.Ids, new long[] { tokens.Tokens, tokens.TopK }), tensor(tokens.Weights, new long[] { tokens.Tokens, tokens.TopK }),
            weights.Config.NumExperts, tokens.TopK, weights.W1Alpha, weights.W2Alpha, weights.CreateOptions(device: ComputeDevice.Cpu));
        float[] actual = output.to(ScalarType.Float32).data<float>().ToArray();

        double[] expected = TestTokens.RoundToBFloat16(CheckpointReference.Run(checkpoint.Layers[0], checkpoint.Spec.Format, tokens, weightOnly: false));
        Assert.IsLessThanOrEqualTo(CheckpointImportHarness.Tolerance, TestTokens.RelativeL2(expected, actual));
    }

    [TestMethod]
    public void FromCheckpointPassesImportErrorsOn()
    {
        using var directory = new TemporaryDirectory();
        TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 64 }).Write(directory.Path);

        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MoeWeights.FromCheckpoint(directory.Path, 9, out _, device: ComputeDevice.Cpu));

        Assert.AreEqual("layer", e.ParamName);
    }
}
