using System;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class SynthCommandTests
{
    private const int Hidden = 32, Intermediate = 32, Experts = 4, TopK = 2, Tokens = 6;

    [TestMethod]
    [DataRow("swizzled128x4", "silu", "nvfp4")]
    [DataRow("linear", "relu2", "nvfp4")]
    [DataRow("linear", "silu", "w4a16")]
    public void WritesALayerFileAndAnInputsFileMatchingTheArguments(string layout, string activation, string quantMode)
    {
        using var directory = new TemporaryDirectory();

        CliResult result = Synth(directory.Path, "--scale-layout", layout, "--activation", activation, "--quant-mode", quantMode);
        using MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors"));
        using MoeInputs inputs = InputsFile.Load(directory.File("inputs.safetensors"));

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("layer.safetensors", result.Output);
        MoeLayerConfig config = layer.Config;
        Assert.AreEqual((Hidden, Intermediate, Experts, Experts, TopK), (config.Hidden, config.Intermediate, config.NumExperts, config.NumLocalExperts, config.TopK));
        Assert.AreEqual(layout, ModeSpellings.ToSpelling(config.ScaleLayout));
        Assert.AreEqual(activation, ModeSpellings.ToSpelling(config.Activation));
        Assert.AreEqual(quantMode, ModeSpellings.ToSpelling(config.QuantMode));
        Assert.AreEqual((Tokens, Hidden, TopK), (inputs.Tokens, inputs.Hidden, inputs.TopK));
        Assert.AreEqual(quantMode == "nvfp4", layer.InputGlobalScale is not null);
        Assert.AreEqual(quantMode == "nvfp4", layer.Fc2InputScale is not null);
    }

    [TestMethod]
    public void SameSeedGivesIdenticalFilesAndAnotherSeedDifferentOnes()
    {
        using var directory = new TemporaryDirectory();

        Synth(Path.Combine(directory.Path, "a"), "--seed", "7");
        Synth(Path.Combine(directory.Path, "b"), "--seed", "7");
        Synth(Path.Combine(directory.Path, "c"), "--seed", "8");
        byte[] Bytes(string run, string file) => File.ReadAllBytes(Path.Combine(directory.Path, run, file));

        CollectionAssert.AreEqual(Bytes("a", "layer.safetensors"), Bytes("b", "layer.safetensors"));
        CollectionAssert.AreEqual(Bytes("a", "inputs.safetensors"), Bytes("b", "inputs.safetensors"));
        CollectionAssert.AreNotEqual(Bytes("a", "layer.safetensors"), Bytes("c", "layer.safetensors"));
        CollectionAssert.AreNotEqual(Bytes("a", "inputs.safetensors"), Bytes("c", "inputs.safetensors"));
    }

    [TestMethod]
    public void RoutingPicksDistinctValidExpertsWithSoftmaxWeights()
    {
        using var directory = new TemporaryDirectory();
        Synth(directory.Path);

        using MoeInputs inputs = InputsFile.Load(directory.File("inputs.safetensors"));
        int[] ids = inputs.TokenSelectedExperts.data<int>().ToArray();
        float[] weights = inputs.TokenFinalScales.data<float>().ToArray();

        for (int t = 0; t < Tokens; t++)
        {
            int[] row = ids[(t * TopK)..((t + 1) * TopK)];
            float[] w = weights[(t * TopK)..((t + 1) * TopK)];
            Assert.AreEqual(TopK, row.Distinct().Count(), $"token {t} routes to an expert twice");
            Assert.IsTrue(row.All(e => e >= 0 && e < Experts), $"token {t}: {string.Join(", ", row)}");
            Assert.IsTrue(w.All(v => v > 0), $"token {t}: weights {string.Join(", ", w)}");
            Assert.AreEqual(1.0, w.Sum(v => (double)v), 1e-6);
        }
    }

    [TestMethod]
    public void WeightGlobalScalesAreW1AlphaAndW2AlphaOverFc2InputScale()
    {
        using var directory = new TemporaryDirectory();
        Synth(directory.Path, "--scale-layout", "swizzled128x4");
        using MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors"));

        // Dequantised with the claimed global scales, the weights must have the drawn spread 1/√fan_in.
        using Tensor w1Scales = Nvfp4Quantizer.UnswizzleScales(layer.W1WeightSf, 2 * Intermediate, Hidden);
        using Tensor w2Scales = Nvfp4Quantizer.UnswizzleScales(layer.W2WeightSf, Hidden, Intermediate);
        using Tensor w2Global = layer.W2Alpha.div(layer.Fc2InputScale!);
        using Tensor w1 = Nvfp4Quantizer.DequantizeWeights(layer.W1Weight, w1Scales, layer.W1Alpha);
        using Tensor w2 = Nvfp4Quantizer.DequantizeWeights(layer.W2Weight, w2Scales, w2Global);

        Assert.AreEqual(1 / Math.Sqrt(Hidden), w1.std().item<float>(), 0.1 / Math.Sqrt(Hidden));
        Assert.AreEqual(1 / Math.Sqrt(Intermediate), w2.std().item<float>(), 0.1 / Math.Sqrt(Intermediate));
        Assert.AreEqual(Experts, layer.W1Alpha.shape[0]);
        Assert.IsTrue(layer.W1Alpha.data<float>().ToArray().Distinct().Count() > 1, "global scales are per expert");
    }

    [TestMethod]
    public void InputGlobalScaleIsTheInputAmaxOver2688()
    {
        using var directory = new TemporaryDirectory();
        Synth(directory.Path);
        using MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors"));
        using MoeInputs inputs = InputsFile.Load(directory.File("inputs.safetensors"));

        double amax = inputs.X.to(ScalarType.Float32).data<float>().ToArray().Max(v => Math.Abs((double)v));

        Assert.AreEqual((float)(amax / 2688), layer.InputGlobalScale!.item<float>());
    }

    [TestMethod]
    [DataRow("silu")]
    [DataRow("relu2")]
    public void Fc2InputScaleIsTheRoutedActivationAmaxOver2688(string activation)
    {
        using var directory = new TemporaryDirectory();
        Synth(directory.Path, "--activation", activation, "--scale-layout", "linear");
        using MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors"));
        using MoeInputs inputs = InputsFile.Load(directory.File("inputs.safetensors"));

        double amax = ReferenceActivationAmax(layer, inputs, gated: activation == "silu");

        Assert.AreEqual(amax / 2688, layer.Fc2InputScale!.item<float>(), amax / 2688 * 1e-6);
    }

    /// <summary>Every routed pair's activation from x and the dequantised W1, pair by pair in doubles.</summary>
    private static double ReferenceActivationAmax(MoeLayerData layer, MoeInputs inputs, bool gated)
    {
        int rows = gated ? 2 * Intermediate : Intermediate;
        byte[] codes = layer.W1Weight.data<byte>().ToArray();
        byte[] scales = layer.W1WeightSf.data<byte>().ToArray();
        float[] global = layer.W1Alpha.data<float>().ToArray();
        float[] x = inputs.X.to(ScalarType.Float32).data<float>().ToArray();
        int[] ids = inputs.TokenSelectedExperts.data<int>().ToArray();
        double Weight(int e, int n, int h)
        {
            int code = codes[(e * rows + n) * (Hidden / 2) + h / 2] >> (4 * (h % 2)) & 0xF;
            return E2M1.Decode(code) * (double)(float)(E4M3.Decode(scales[(e * rows + n) * (Hidden / 16) + h / 16]) * global[e]);
        }
        double Fc1(int t, int e, int n) => Enumerable.Range(0, Hidden).Sum(h => x[t * Hidden + h] * Weight(e, n, h));
        double amax = 0;
        for (int pair = 0; pair < Tokens * TopK; pair++)
        {
            int t = pair / TopK, e = ids[pair];
            for (int n = 0; n < Intermediate; n++)
            {
                double a;
                if (gated)
                {
                    double gate = Fc1(t, e, Intermediate + n);
                    a = gate / (1 + Math.Exp(-gate)) * Fc1(t, e, n);
                }
                else
                {
                    double h = Math.Max(Fc1(t, e, n), 0);
                    a = h * h;
                }
                amax = Math.Max(amax, Math.Abs(a));
            }
        }
        return amax;
    }

    private static CliResult Synth(string directory, params string[] extra)
    {
        CliResult result = Cli.Run([
            "synth", "--output-dir", directory, "--hidden", $"{Hidden}", "--intermediate", $"{Intermediate}",
            "--experts", $"{Experts}", "--top-k", $"{TopK}", "--tokens", $"{Tokens}", .. extra]);
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        return result;
    }
}
