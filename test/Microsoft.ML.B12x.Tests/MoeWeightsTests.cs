using System;
using System.IO;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests;

[TestClass]
public sealed class MoeWeightsTests
{
    [TestMethod]
    public void FromLayerFileLoadsTheFileOntoTheCpuAndRemembersIt()
    {
        using var directory = new TemporaryDirectory();
        using (MoeWeights built = MoeWeights.Quantize(randn(3, 64, 32), randn(3, 32, 32), randn(5, 32), topK: 2))
        {
            LayerFile.Save(directory.File("layer.safetensors"), built.Layer);
        }

        using MoeWeights weights = MoeWeights.FromLayerFile(directory.File("layer.safetensors"), ComputeDevice.Cpu);

        Assert.AreEqual(DeviceType.CPU, weights.Device.type);
        Assert.AreEqual(32, weights.Config.Hidden);
        Assert.AreEqual(2, weights.Config.TopK);
        Assert.AreEqual(Path.GetFullPath(directory.File("layer.safetensors")), weights.SourcePath);
    }

    [TestMethod]
    public void TheConstructorRejectsTensorsThatContradictTheConfiguration()
    {
        MoeLayerData layer = IO.LayerFixtures.Layer(IO.LayerFixtures.Config());
        var wrong = new MoeLayerData(
            layer.Config with { Intermediate = 32 }, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf,
            layer.W1Alpha, layer.W2Alpha, layer.Fc2InputScale, layer.InputGlobalScale);

        var error = Assert.ThrowsExactly<ArgumentException>(() => new MoeWeights(wrong));

        StringAssert.Contains(error.Message, "The weights are inconsistent");
        layer.Dispose();
    }

    [TestMethod]
    public void DisposedWeightsSayTheyAreDisposed()
    {
        var weights = MlNetCase.Create(tokens: 1).Weights();
        weights.Dispose();

        Assert.ThrowsExactly<ObjectDisposedException>(() => weights.W1Weight);
    }

    [TestMethod]
    [DataRow(MoeActivation.Silu)]
    [DataRow(MoeActivation.Relu2)]
    public void QuantizedW4A16WeightsComputeTheDenseLayerOfTheirDequantisedWeights(MoeActivation activation)
    {
        const int experts = 4, hidden = 64, intermediate = 32, tokens = 16;
        using DisposeScope scope = NewDisposeScope();
        var generator = new Generator(7);
        int w1Rows = activation == MoeActivation.Silu ? 2 * intermediate : intermediate;
        Tensor w1 = randn(new long[] { experts, w1Rows, hidden }, generator: generator).div(8);
        Tensor w2 = randn(new long[] { experts, hidden, intermediate }, generator: generator).div(6);
        Tensor x = randn(new long[] { tokens, hidden }, generator: generator).to(ScalarType.BFloat16);
        Tensor ids = arange(tokens, ScalarType.Int32).remainder(experts).reshape(tokens, 1);

        using MoeWeights weights = MoeWeights.Quantize(w1, w2, null, activation, MoeQuantMode.W4A16, topK: 1);
        Tensor actual = B12xOps.FusedMoe(
            x, weights.W1Weight, weights.W1WeightSf, weights.W2Weight, weights.W2WeightSf, ids, ones(tokens, 1), experts, 1,
            weights.W1Alpha, weights.W2Alpha, weights.CreateOptions(device: ComputeDevice.Cpu)).to(ScalarType.Float64);

        Tensor d1 = Nvfp4Quantizer.DequantizeWeights(
            weights.W1Weight, Nvfp4Quantizer.UnswizzleScales(weights.W1WeightSf, w1Rows, hidden), weights.W1Alpha).to(ScalarType.Float64);
        Tensor d2 = Nvfp4Quantizer.DequantizeWeights(
            weights.W2Weight, Nvfp4Quantizer.UnswizzleScales(weights.W2WeightSf, hidden, intermediate), weights.W2Alpha).to(ScalarType.Float64);
        Tensor expected = zeros(new long[] { tokens, hidden }, ScalarType.Float64);
        for (int t = 0; t < tokens; t++)
        {
            Tensor h = x[t].to(ScalarType.Float64).matmul(d1[t % experts].t());
            Tensor a = activation == MoeActivation.Silu
                ? h.narrow(0, intermediate, intermediate).silu().mul(h.narrow(0, 0, intermediate))
                : h.relu().square();
            expected[t] = a.matmul(d2[t % experts].t());
        }
        double relative = (actual - expected).norm().item<double>() / expected.norm().item<double>();
        double dense = (expected - DenseReference(x, w1, w2, activation, intermediate, experts)).norm().item<double>() / expected.norm().item<double>();

        // The kernel rounds the activation and the output to bf16 (2^-9 relative each) and sums in fp32.
        Assert.IsLessThan(5e-3, relative, $"relative L2 error against the dequantised layer: {relative:E2}");
        // The dequantised weights are the FP4 approximation of the dense ones, not the dense ones themselves.
        Assert.IsGreaterThan(1e-2, dense, $"relative L2 distance to the dense layer: {dense:E2}");
    }

    [TestMethod]
    public void QuantizeCalibratesTheActivationScalesOnTheCalibrationInputs()
    {
        const int experts = 3, hidden = 32, intermediate = 16, rows = 10;
        using DisposeScope scope = NewDisposeScope();
        var generator = new Generator(3);
        Tensor w1 = randn(new long[] { experts, 2 * intermediate, hidden }, generator: generator);
        Tensor w2 = randn(new long[] { experts, hidden, intermediate }, generator: generator);
        Tensor x = randn(new long[] { rows, hidden }, generator: generator).mul(3);

        using MoeWeights weights = MoeWeights.Quantize(w1, w2, x);

        double xAmax = x.to(ScalarType.BFloat16).abs().max().to(ScalarType.Float64).item<double>();
        Assert.AreEqual((float)(xAmax / (6 * 448)), weights.InputGlobalScale!.item<float>());
        Tensor d1 = Nvfp4Quantizer.DequantizeWeights(
            weights.W1Weight, Nvfp4Quantizer.UnswizzleScales(weights.W1WeightSf, 2 * intermediate, hidden), weights.W1Alpha).to(ScalarType.Float64);
        float[] fc2 = weights.Fc2InputScale!.data<float>().ToArray();
        float[] s2 = Nvfp4Quantizer.QuantizeWeights(w2).GlobalScales.data<float>().ToArray();
        float[] w2Alpha = weights.W2Alpha.data<float>().ToArray();
        for (int e = 0; e < experts; e++)
        {
            Tensor h = x.to(ScalarType.BFloat16).to(ScalarType.Float64).matmul(d1[e].t());
            double amax = h.narrow(1, intermediate, intermediate).silu().mul(h.narrow(1, 0, intermediate)).abs().max().item<double>();
            Assert.AreEqual((float)(amax / (6 * 448)), fc2[e], fc2[e] * 1e-6f, $"expert {e}");
            Assert.AreEqual(fc2[e] * s2[e], w2Alpha[e], $"expert {e}: w2_alpha = fc2_input_scale × W2's global scale");
        }
    }

    private static Tensor DenseReference(Tensor x, Tensor w1, Tensor w2, MoeActivation activation, int intermediate, int experts)
    {
        long tokens = x.shape[0];
        Tensor result = zeros(new long[] { tokens, w2.shape[1] }, ScalarType.Float64);
        for (int t = 0; t < tokens; t++)
        {
            Tensor h = x[t].to(ScalarType.Float64).matmul(w1[t % experts].to(ScalarType.Float64).t());
            Tensor a = activation == MoeActivation.Silu
                ? h.narrow(0, intermediate, intermediate).silu().mul(h.narrow(0, 0, intermediate))
                : h.relu().square();
            result[t] = a.matmul(w2[t % experts].to(ScalarType.Float64).t());
        }
        return result;
    }

    [TestMethod]
    public void QuantizeRequiresCalibrationInputsForNvfp4()
    {
        var error = Assert.ThrowsExactly<ArgumentNullException>(() => MoeWeights.Quantize(zeros(2, 64, 32), zeros(2, 32, 32), null));

        Assert.AreEqual("calibrationInputs", error.ParamName);
    }
}
