using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Samples;

/// <summary>Runs the console sample as a user does (a separate process, its own build output).</summary>
[TestClass]
public sealed class SampleConsoleTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void WithoutFilesItSynthesisesRunsAndPrintsASummary()
    {
        using var directory = new TemporaryDirectory();

        (int exitCode, string output, string error) = RunSample("--tokens", "300", "--batch-size", "64", "--output-dir", directory.Path);

        Assert.AreEqual(0, exitCode, error);
        Assert.IsTrue(Regex.IsMatch(output,
            @"^rows=300 H=512 I=256 E=32 K=4 \(router SoftmaxTopK\) batch_size=64 device=cpu time=[0-9.]+ s rows/s=[0-9]+ -> .*output\.csv$",
            RegexOptions.Multiline), output);
        string[] lines = File.ReadAllLines(Path.Combine(directory.Path, "output.csv"));
        Assert.HasCount(301, lines);
        Assert.AreEqual(512, lines[0].Split(',').Length);
        Assert.IsTrue(lines.Skip(1).Any(l => l.Split(',').Any(v => v != "0")), "the output is not all zero");
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void WithAnInputsFileItWritesWhatTheOperatorComputes()
    {
        using var directory = new TemporaryDirectory();
        Assert.AreEqual(0, Cli.Cli.Run(
            "synth", "--output-dir", directory.Path, "--hidden", "64", "--intermediate", "32", "--experts", "4", "--top-k", "2",
            "--tokens", "50").ExitCode);
        string layer = directory.File("layer.safetensors"), inputs = directory.File("inputs.safetensors");

        (int exitCode, _, string error) = RunSample(
            "--layer", layer, "--inputs", inputs, "--output", directory.File("sample.safetensors"), "--device", "Cpu", "--batch-size", "7");
        Assert.AreEqual(0, exitCode, error);
        Assert.AreEqual(0, Cli.Cli.Run("run", "--layer", layer, "--inputs", inputs, "--output", directory.File("cli.safetensors"), "--device", "cpu").ExitCode);

        using Tensor sample = OutputFile.Load(directory.File("sample.safetensors"));
        using Tensor cli = OutputFile.Load(directory.File("cli.safetensors"));
        CollectionAssert.AreEqual(
            Microsoft.ML.B12x.TorchSharp.TensorPointers.HostSpan<ushort>(cli).ToArray(),
            Microsoft.ML.B12x.TorchSharp.TensorPointers.HostSpan<ushort>(sample).ToArray(),
            "the sample's output equals b12x run's, bit for bit");
    }

    private static (int ExitCode, string Output, string Error) RunSample(params string[] args)
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "B12x.ML.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd(Path.DirectorySeparatorChar)) ?? throw new InvalidOperationException("No repository root.");
        }
        string sample = Path.Combine(root, "samples", "B12x.Samples.Console", "bin", configuration, "net10.0", "B12x.Samples.Console.dll");
        Assert.IsTrue(File.Exists(sample), $"{sample} was built with the tests");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(sample);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using Process process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }
}
