using System.IO;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class ImportCommandTests
{
    [TestMethod]
    public void ImportWritesALayerFileWithTheReportOnStandardErrorAndInItsMetadata()
    {
        using var directory = new TemporaryDirectory();
        string checkpoint = WriteCheckpoint(directory);
        string layerFile = directory.File("layer.safetensors");

        CliResult result = Cli.Run("import", "--checkpoint", checkpoint, "--layer", "1", "--output", layerFile);
        using var reader = SafetensorsReader.Open(layerFile);
        using MoeLayerData layer = LayerFile.Load(layerFile);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.StartsWith($"imported layer 1 of {checkpoint}: H=64 I=32 E=4 K=2 activation=silu quant_mode=nvfp4 notes=0 -> {layerFile}", result.Output);
        Assert.StartsWith($"import of layer 1 from {checkpoint} (model_type qwen3_moe)", result.Error);
        Assert.AreEqual(result.Error, reader.Metadata[ImportedLayer.ReportKey]);
        Assert.AreEqual("1", reader.Metadata[ImportedLayer.SourceLayerKey]);
        Assert.AreEqual("swizzled128x4", reader.Metadata[LayerFile.ScaleLayoutKey]);
        Assert.IsNotNull(layer.InputGlobalScale);
    }

    [TestMethod]
    public void ImportedLayerFileRunsOnSynthesisedInputs()
    {
        using var directory = new TemporaryDirectory();
        string checkpoint = WriteCheckpoint(directory);
        Assert.AreEqual(0, Cli.Run("import", "--checkpoint", checkpoint, "--layer", "0", "--output", directory.File("layer.safetensors")).ExitCode);
        Assert.AreEqual(0, Cli.Run("synth", "--output-dir", directory.File("synth"), "--hidden", "64", "--intermediate", "32", "--experts", "4",
            "--top-k", "2", "--tokens", "5").ExitCode);

        CliResult result = Cli.Run("run", "--layer", directory.File("layer.safetensors"), "--inputs", Path.Combine(directory.File("synth"), "inputs.safetensors"),
            "--output", directory.File("out.safetensors"), "--device", "cpu");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.StartsWith("T=5 H=64 I=32 E=4 K=2 mode=nvfp4 activation=silu device=cpu", result.Output);
        Assert.AreEqual("", result.Error);
    }

    [TestMethod]
    public void LegacyScalesFileHasNoInputGlobalScaleAndSaysItIsLossy()
    {
        using var directory = new TemporaryDirectory();
        string checkpoint = WriteCheckpoint(directory);
        string layerFile = directory.File("legacy.safetensors");

        CliResult result = Cli.Run("import", "--checkpoint", checkpoint, "--layer", "0", "--output", layerFile, "--legacy-scales");
        using var reader = SafetensorsReader.Open(layerFile);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("scales=legacy", result.Output);
        Assert.Contains("[LegacyScalesLossy]", result.Error);
        Assert.IsFalse(reader.Contains(LayerFile.InputGlobalScaleName));
        Assert.StartsWith("legacy (lossy)", reader.Metadata[ImportedLayer.ScaleConventionKey]);
    }

    [TestMethod]
    public void LayerOutOfRangeFailsWithOneLine()
    {
        using var directory = new TemporaryDirectory();
        string checkpoint = WriteCheckpoint(directory);

        CliResult result = Cli.Run("import", "--checkpoint", checkpoint, "--layer", "7", "--output", directory.File("layer.safetensors"));

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.AreEqual(1, result.Error.TrimEnd('\n').Split('\n').Length, result.Error);
        Assert.StartsWith("b12x import: error: ", result.Error);
        Assert.Contains("num_hidden_layers = 2", result.Error);
        Assert.IsFalse(File.Exists(directory.File("layer.safetensors")));
    }

    [TestMethod]
    [DataRow("--layer", "-1", "--layer must be an integer of at least 0")]
    [DataRow("--layer", "x", "--layer must be an integer of at least 0")]
    [DataRow("--checkpoint", "/nonexistent/b12x", "does not exist")]
    public void BadArgumentIsAUsageError(string option, string value, string expected)
    {
        using var directory = new TemporaryDirectory();
        string[] args = ["import", "--checkpoint", directory.Path, "--layer", "0", "--output", directory.File("layer.safetensors")];
        args[System.Array.IndexOf(args, option) + 1] = value;

        CliResult result = Cli.Run(args);

        Assert.AreEqual(2, result.ExitCode, result.ToString());
        Assert.Contains(expected, result.Error);
    }

    [TestMethod]
    public void HelpListsEveryFlag()
    {
        CliResult result = Cli.Run("import", "--help");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        foreach (string flag in new[] { "--checkpoint", "--layer", "--output", "--legacy-scales", "--verbose" })
        {
            Assert.Contains(flag, result.Output);
        }
    }

    private static string WriteCheckpoint(TemporaryDirectory directory)
    {
        string path = directory.File("checkpoint");
        TinyCheckpoint.Create(new TinyCheckpointSpec { Seed = 41 }).Write(path);
        return path;
    }
}
