using System;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.TorchSharpModule;

[TestClass]
public sealed class FusedMoeLayerTests
{
    [TestMethod]
    public void ForwardWithIdsAndWeightsEqualsTheFunctionalCall()
    {
        MlNetCase c = MlNetCase.Create(tokens: 9);
        using MoeWeights weights = c.Weights();
        using FusedMoeLayer layer = FusedMoeLayer.Create(weights);
        using DisposeScope scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);

        Tensor actual = layer.call(t.X, t.TokenSelectedExperts, t.TokenFinalScales);

        BitAssert.Equal(MoeTensors.Bits(t.Call()), MoeTensors.Bits(actual), MlNetCase.Hidden, "module vs B12xOps.FusedMoe");
    }

    [TestMethod]
    [DataRow(RouterKind.SoftmaxTopK)]
    [DataRow(RouterKind.TopKSoftmax)]
    public void ForwardWithLogitsEqualsForwardWithTheRoutersChoice(RouterKind kind)
    {
        MlNetCase c = MlNetCase.Create(tokens: 7);
        using MoeWeights weights = c.Weights();
        using FusedMoeLayer layer = FusedMoeLayer.Create(weights, kind);
        using DisposeScope scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);
        float[] logits = c.Rows.SelectMany(r => r.RouterLogits).ToArray();
        var ids = new int[7 * MlNetCase.TopK];
        var routing = new float[7 * MlNetCase.TopK];
        new MoeRouter(kind, MlNetCase.Experts, MlNetCase.TopK, normalize: true).Route(logits, ids, routing);

        Tensor actual = layer.forward(t.X, tensor(logits, new long[] { 7, MlNetCase.Experts }));
        Tensor expected = layer.forward(t.X, tensor(ids, new long[] { 7, MlNetCase.TopK }), tensor(routing, new long[] { 7, MlNetCase.TopK }));

        BitAssert.Equal(MoeTensors.Bits(expected), MoeTensors.Bits(actual), MlNetCase.Hidden, kind.ToString());
    }

    [TestMethod]
    public void TheWeightsAreBuffersNamedAsInALayerFile()
    {
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();
        using FusedMoeLayer layer = FusedMoeLayer.Create(weights);

        string[] names = layer.named_buffers().Select(b => b.name).ToArray();

        CollectionAssert.AreEquivalent(
            new[] { "w1_weight", "w1_weight_sf", "w2_weight", "w2_weight_sf", "w1_alpha", "w2_alpha", "fc2_input_scale", "input_global_scale" },
            names);
        Assert.IsEmpty(layer.parameters().ToArray());
    }

    [TestMethod]
    public void DisposingTheModuleLeavesTheWeightsUsable()
    {
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();
        FusedMoeLayer layer = FusedMoeLayer.Create(weights);

        layer.Dispose();

        using DisposeScope scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);
        Tensor output = B12xOps.FusedMoe(
            t.X, weights.W1Weight, weights.W1WeightSf, weights.W2Weight, weights.W2WeightSf, t.TokenSelectedExperts,
            t.TokenFinalScales, MlNetCase.Experts, MlNetCase.TopK, weights.W1Alpha, weights.W2Alpha,
            weights.CreateOptions(device: ComputeDevice.Cpu));
        BitAssert.Equal(c.ExpectedBits(), MoeTensors.Bits(output), MlNetCase.Hidden, "weights after the module was disposed");
    }

    [TestMethod]
    public void ForwardWithLogitsOfTheWrongWidthNamesTheParameter()
    {
        MlNetCase c = MlNetCase.Create(tokens: 2);
        using MoeWeights weights = c.Weights();
        using FusedMoeLayer layer = FusedMoeLayer.Create(weights);
        using DisposeScope scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);

        var error = Assert.ThrowsExactly<ArgumentException>(() => layer.forward(t.X, zeros(2, MlNetCase.Experts + 1)));

        Assert.AreEqual("routerLogits", error.ParamName);
    }

    [TestMethod]
    [RequiresCuda]
    public void TheModuleMovedToCudaMatchesTheCpuWithinTheCudaRule()
    {
        MlNetCase c = MlNetCase.Create(tokens: 40);
        using MoeWeights weights = c.Weights();
        using FusedMoeLayer layer = FusedMoeLayer.Create(weights);
        using DisposeScope scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);
        ushort[] cpu = MoeTensors.Bits(layer.call(t.X, t.TokenSelectedExperts, t.TokenFinalScales));
        Device device = CudaTestEnvironment.Device;

        layer.to(device);
        Tensor gpu = layer.call(t.X.to(device), t.TokenSelectedExperts.to(device), t.TokenFinalScales.to(device));

        Assert.AreEqual(DeviceType.CUDA, gpu.device_type);
        Console.WriteLine(CudaTolerance.AssertWithin(cpu, MoeTensors.Bits(gpu.cpu()), MlNetCase.Hidden, "module on CUDA vs CPU"));
    }
}
