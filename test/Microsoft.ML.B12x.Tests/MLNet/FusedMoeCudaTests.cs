using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
[RequiresCuda]
public sealed class FusedMoeCudaTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(64)]
    public void TheTransformerOnCudaMatchesTheCpuWithinTheCudaRule(int batchSize)
    {
        _ = CudaTestEnvironment.Device;
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 100);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted(batchSize) with { Device = ComputeDevice.Cuda }).Fit(input);

        ushort[] gpu = MlNetCase.Bits(MlNetCase.ReadVectors(transformer.Transform(input), "Output"));

        Assert.AreEqual(ComputeDevice.Cuda, transformer.Device);
        Console.WriteLine(CudaTolerance.AssertWithin(c.ExpectedBits(), gpu, MlNetCase.Hidden, $"CUDA, batch size {batchSize}"));
    }

    [TestMethod]
    public void AutoChoosesCudaWhereTheBackendRunsAndSaysWhy()
    {
        _ = CudaTestEnvironment.Device;
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 3);
        using MoeWeights weights = c.Weights();

        using FusedMoeTransformer transformer = mlContext.Transforms
            .FusedMoe(weights, MlNetCase.ColumnRouted() with { Device = ComputeDevice.Auto }).Fit(c.DataView(mlContext));

        Assert.AreEqual(ComputeDevice.Cuda, transformer.Device);
        StringAssert.Contains(transformer.DeviceReason, "Device = Auto chose CUDA");
        StringAssert.Contains(transformer.DeviceReason, "copied there from cpu");
    }

    [TestMethod]
    public void ATransformerLoadedOntoCudaRunsTwiceWithTheSameBits()
    {
        _ = CudaTestEnvironment.Device;
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 50);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        using (FusedMoeTransformer original = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted(batchSize: 16)).Fit(input))
        {
            original.Save(directory.File("moe.zip"));
        }

        using FusedMoeTransformer loaded = FusedMoeTransformer.Load(mlContext, directory.File("moe.zip"), ComputeDevice.Cuda);
        ushort[] first = MlNetCase.Bits(MlNetCase.ReadVectors(loaded.Transform(input), "Output"));
        ushort[] second = MlNetCase.Bits(MlNetCase.ReadVectors(loaded.Transform(input), "Output"));

        Assert.AreEqual(ComputeDevice.Cuda, loaded.Device);
        BitAssert.Equal(first, second, MlNetCase.Hidden, "CUDA run twice");
        Console.WriteLine(CudaTolerance.AssertWithin(c.ExpectedBits(), first, MlNetCase.Hidden, "loaded onto CUDA vs CPU"));
    }
}
