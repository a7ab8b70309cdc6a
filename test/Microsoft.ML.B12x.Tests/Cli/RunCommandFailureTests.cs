using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class RunCommandFailureTests
{
    [TestMethod]
    public void InputsOfAnotherHiddenSizeFail()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.File("a"), hidden: 32, topK: 2);
        Synthesize(directory.File("b"), hidden: 48, topK: 2);

        CliResult result = Run(directory, layerFrom: "a", inputsFrom: "b");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("x has hidden size 48 but the layer", result.Error);
        Assert.Contains("has H = 32", result.Error);
        Assert.IsFalse(System.IO.File.Exists(directory.File("out.safetensors")));
    }

    [TestMethod]
    public void InputsWithAnotherTopKThanTheLayerFileFail()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.File("a"), hidden: 32, topK: 2);
        Synthesize(directory.File("b"), hidden: 32, topK: 3);

        CliResult result = Run(directory, layerFrom: "a", inputsFrom: "b");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("topK = 3 contradicts the layer file", result.Error);
        Assert.Contains("which says 2", result.Error);
    }

    [TestMethod]
    public void MalformedLayerFileFails()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.File("a"), hidden: 32, topK: 2);
        System.IO.File.WriteAllBytes(directory.File("a/layer.safetensors"), [1, 2, 3]);

        CliResult result = Run(directory, layerFrom: "a", inputsFrom: "a");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.StartsWith("b12x run: error: ", result.Error);
        Assert.Contains("is not a valid safetensors file", result.Error);
    }

    [TestMethod]
    public void DeviceCudaWithoutAGpuFailsClearly()
    {
        if (torch.cuda.is_available())
        {
            Assert.Inconclusive("A CUDA device is visible: this test covers machines without one.");
        }
        using var directory = new TemporaryDirectory();
        Synthesize(directory.File("a"), hidden: 32, topK: 2);

        CliResult result = Run(directory, layerFrom: "a", inputsFrom: "a", "--device", "cuda");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("--device cuda: TorchSharp sees no CUDA device here", result.Error);
    }

    private static CliResult Run(TemporaryDirectory directory, string layerFrom, string inputsFrom, params string[] extra) => Cli.Run([
        "run", "--layer", directory.File($"{layerFrom}/layer.safetensors"), "--inputs", directory.File($"{inputsFrom}/inputs.safetensors"),
        "--output", directory.File("out.safetensors"), .. extra]);

    private static void Synthesize(string directory, int hidden, int topK)
    {
        CliResult result = Cli.Run(
            "synth", "--output-dir", directory, "--hidden", $"{hidden}", "--intermediate", "32", "--experts", "4", "--top-k", $"{topK}", "--tokens", "3");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
    }
}
