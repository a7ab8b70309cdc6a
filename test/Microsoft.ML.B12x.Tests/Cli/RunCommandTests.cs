using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class RunCommandTests
{
    [TestMethod]
    [DataRow("swizzled128x4", "silu", "nvfp4")]
    [DataRow("swizzled128x4", "relu2", "nvfp4")]
    [DataRow("linear", "silu", "nvfp4")]
    [DataRow("linear", "relu2", "w4a16")]
    public void SynthInfoRunWritesExactlyWhatTheOperatorComputes(string layout, string activation, string quantMode)
    {
        using var directory = new TemporaryDirectory();
        Assert.AreEqual(0, Cli.Run(
            "synth", "--output-dir", directory.Path, "--hidden", "64", "--intermediate", "32", "--experts", "5", "--top-k", "3",
            "--tokens", "7", "--scale-layout", layout, "--activation", activation, "--quant-mode", quantMode, "--seed", "3").ExitCode);
        Assert.AreEqual(0, Cli.Run("info", directory.File("layer.safetensors")).ExitCode);

        CliResult run = Cli.Run(
            "run", "--layer", directory.File("layer.safetensors"), "--inputs", directory.File("inputs.safetensors"),
            "--output", directory.File("out.safetensors"), "--device", "cpu");
        Assert.AreEqual(0, run.ExitCode, run.ToString());
        using Tensor written = OutputFile.Load(directory.File("out.safetensors"));
        using Tensor expected = DirectCall(directory, layout, activation, quantMode);

        Assert.AreEqual(ScalarType.BFloat16, written.dtype);
        CollectionAssert.AreEqual(new long[] { 7, 64 }, written.shape);
        CollectionAssert.AreEqual(TensorPointers.HostSpan<byte>(expected).ToArray(), TensorPointers.HostSpan<byte>(written).ToArray());
        Assert.IsTrue(written.to(ScalarType.Float32).abs().max().item<float>() > 0, "the layer output is not all zero");
    }

    [TestMethod]
    public void RunPrintsAOneLineSummaryWithTheOutputRms()
    {
        using var directory = new TemporaryDirectory();
        Cli.Run("synth", "--output-dir", directory.Path, "--hidden", "32", "--intermediate", "48", "--experts", "4", "--top-k", "2", "--tokens", "6");

        CliResult run = Cli.Run(
            "run", "--layer", directory.File("layer.safetensors"), "--inputs", directory.File("inputs.safetensors"),
            "--output", directory.File("out.safetensors"), "--device", "cpu");
        Assert.AreEqual(0, run.ExitCode, run.ToString());
        using Tensor written = OutputFile.Load(directory.File("out.safetensors"));
        float rms = written.to(ScalarType.Float32).square().mean().sqrt().item<float>();

        Match summary = Regex.Match(run.Output,
            @"^T=6 H=32 I=48 E=4 K=2 mode=nvfp4 activation=silu device=cpu time=[0-9.]+ ms output_rms=(?<rms>\S+) -> .*out\.safetensors\n$");
        Assert.IsTrue(summary.Success, run.Output);
        Assert.AreEqual(rms, float.Parse(summary.Groups["rms"].Value, CultureInfo.InvariantCulture), rms * 1e-5f);
        Assert.AreEqual("", run.Error);
    }

    [TestMethod]
    public void RunWarnsAboutAWeightScaleAlphaWithoutInputGlobalScale()
    {
        using var directory = new TemporaryDirectory();
        Cli.Run("synth", "--output-dir", directory.Path, "--hidden", "32", "--intermediate", "32", "--experts", "4", "--top-k", "2", "--tokens", "3");
        using (MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors")))
        {
            new SafetensorsWriter().AddMetadata("scale_layout", "swizzled128x4")
                .Add("w1_weight", layer.W1Weight).Add("w1_weight_sf", layer.W1WeightSf).Add("w2_weight", layer.W2Weight)
                .Add("w2_weight_sf", layer.W2WeightSf).Add("w1_alpha", layer.W1Alpha).Add("w2_alpha", layer.W2Alpha)
                .Add("fc2_input_scale", layer.Fc2InputScale!)
                .Save(directory.File("old-convention.safetensors"));
        }

        CliResult run = Cli.Run(
            "run", "--layer", directory.File("old-convention.safetensors"), "--inputs", directory.File("inputs.safetensors"),
            "--output", directory.File("out.safetensors"));

        Assert.AreEqual(0, run.ExitCode, run.ToString());
        Assert.StartsWith("b12x run: warning: w1_alpha is below 0.01 everywhere", run.Error);
    }

    /// <summary>B12xOps.FusedMoe on the files' tensors, with options spelled out here from the synth arguments.</summary>
    private static Tensor DirectCall(TemporaryDirectory directory, string layout, string activation, string quantMode)
    {
        using MoeLayerData layer = LayerFile.Load(directory.File("layer.safetensors"));
        using MoeInputs inputs = InputsFile.Load(directory.File("inputs.safetensors"));
        var options = new FusedMoeOptions
        {
            Activation = activation == "silu" ? MoeActivation.Silu : MoeActivation.Relu2,
            QuantMode = quantMode == "nvfp4" ? MoeQuantMode.Nvfp4 : MoeQuantMode.W4A16,
            ScaleLayout = layout == "linear" ? ScaleLayout.Linear : ScaleLayout.Swizzled128x4,
            Fc2InputScale = layer.Fc2InputScale,
            InputGlobalScale = layer.InputGlobalScale,
            Device = ComputeDevice.Cpu,
        };
        return B12xOps.FusedMoe(
            inputs.X, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf, inputs.TokenSelectedExperts,
            inputs.TokenFinalScales, numExperts: 5, topK: 3, layer.W1Alpha, layer.W2Alpha, options);
    }
}
