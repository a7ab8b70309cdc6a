using System;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class QuantizeCommandTests
{
    [TestMethod]
    public void QuantizePrintsEachLayersErrorAndWritesACheckpointThatImports()
    {
        using var directory = new TemporaryDirectory();
        string input = WriteCheckpoint(directory);
        string calibration = directory.File("calibration.safetensors");
        Bf16Checkpoint.WriteCalibration(calibration, TestTokens.Normal(new Random(1), 8 * Bf16Checkpoint.Hidden), 8);

        CliResult result = Cli.Run("quantize", "--checkpoint", input, "--output", directory.File("nvfp4"), "--calibration", calibration);
        CliResult imported = Cli.Run("import", "--checkpoint", directory.File("nvfp4"), "--layer", "1", "--output", directory.File("layer.safetensors"));

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        string[] lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.HasCount(3, lines);
        StringAssert.Matches(lines[0], new System.Text.RegularExpressions.Regex(@"^layer 0: 4 experts, weight rel L2 error gate/up 0\.0\d{3}, down 0\.0\d{3}, all 0\.0\d{3}; input_scale "));
        Assert.StartsWith("layer 1: 4 experts", lines[1]);
        Assert.StartsWith($"wrote 4 files to {directory.File("nvfp4")}; input scales calibrated from {calibration}", lines[2]);
        Assert.Contains("b12x quantize: layer 0 (1/2): 4 experts, weight rel L2 error 0.0", result.Error);
        Assert.Contains("b12x quantize: writing model.safetensors (1/1)", result.Error);
        Assert.AreEqual(0, imported.ExitCode, imported.ToString());
    }

    [TestMethod]
    public void WithoutCalibrationTheDefaultInputScaleIsStated()
    {
        using var directory = new TemporaryDirectory();
        string input = WriteCheckpoint(directory);

        CliResult result = Cli.Run("quantize", "--checkpoint", input, "--output", directory.File("nvfp4"), "--layers", "1");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.StartsWith("layer 1: ", result.Output);
        Assert.Contains("input scales: default 0.166667 (no --calibration)", result.Output);
        Assert.IsFalse(result.Output.Contains("layer 0:", StringComparison.Ordinal));
    }

    [TestMethod]
    [DataRow("3-1")]
    [DataRow("a")]
    [DataRow("0,,1")]
    [DataRow("0-99999999")]
    public void MalformedLayersAreAUsageError(string layers)
    {
        using var directory = new TemporaryDirectory();
        string input = WriteCheckpoint(directory);

        CliResult result = Cli.Run("quantize", "--checkpoint", input, "--output", directory.File("nvfp4"), "--layers", layers);

        Assert.AreEqual(2, result.ExitCode, result.ToString());
        Assert.Contains("--layers: ", result.Error);
        Assert.IsFalse(Directory.Exists(directory.File("nvfp4")));
    }

    [TestMethod]
    public void LayerWithoutExpertsFailsWithOneLine()
    {
        using var directory = new TemporaryDirectory();
        string input = WriteCheckpoint(directory);

        CliResult result = Cli.Run("quantize", "--checkpoint", input, "--output", directory.File("nvfp4"), "--layers", "0,5");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.StartsWith("b12x quantize: error: ", result.Error);
        Assert.Contains("num_hidden_layers = 2", result.Error);
    }

    [TestMethod]
    public void HelpListsEveryFlagAndTheDefaultInputScale()
    {
        CliResult result = Cli.Run("quantize", "--help");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        foreach (string flag in new[] { "--checkpoint", "--output", "--layers", "--calibration", "--verbose", "1/6" })
        {
            Assert.Contains(flag, result.Output);
        }
    }

    private static string WriteCheckpoint(TemporaryDirectory directory)
    {
        string path = directory.File("bf16");
        Bf16Checkpoint.Create(seed: 42).Write(path);
        return path;
    }
}
