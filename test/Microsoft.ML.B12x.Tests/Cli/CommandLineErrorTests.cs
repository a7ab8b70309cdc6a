using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class CommandLineErrorTests
{
    private const string Synth = "synth --output-dir {dir} --hidden 32 --intermediate 32 --experts 4 --top-k 2 --tokens 3";

    [TestMethod]
    [DataRow("", "Required command was not provided")]
    [DataRow("frobnicate", "Unrecognized command or argument 'frobnicate'")]
    [DataRow(Synth + " --bogus", "Unrecognized command or argument '--bogus'")]
    [DataRow("synth --output-dir {dir} --hidden 32 --intermediate 32 --experts 4 --top-k 2", "Option '--tokens' is required")]
    [DataRow(Synth + " --activation gelu", "Unknown activation 'gelu'; expected one of 'silu', 'relu2'")]
    [DataRow(Synth + " --activation SiLU", "Unknown activation 'SiLU'")]
    [DataRow(Synth + " --quant-mode int8", "Unknown quant_mode 'int8'")]
    [DataRow(Synth + " --scale-layout swizzled", "Unknown scale_layout 'swizzled'")]
    [DataRow("synth --output-dir {dir} --hidden 60 --intermediate 32 --experts 4 --top-k 2 --tokens 3", "--hidden must be a multiple of 16 of at least 16; got '60'")]
    [DataRow("synth --output-dir {dir} --hidden 32 --intermediate 0 --experts 4 --top-k 2 --tokens 3", "--intermediate must be a multiple of 16 of at least 16; got '0'")]
    [DataRow("synth --output-dir {dir} --hidden 32 --intermediate 32 --experts 4 --top-k 2 --tokens many", "--tokens must be an integer of at least 1; got 'many'")]
    [DataRow("synth --output-dir {dir} --hidden 32 --intermediate 32 --experts 4 --top-k 5 --tokens 3", "--top-k must be at most --experts = 4")]
    [DataRow(Synth + " --seed -1", "--seed")]
    [DataRow("run --layer {dir}/missing.safetensors --inputs {dir}/missing.safetensors --output {dir}/o.safetensors", "File does not exist")]
    [DataRow("run --layer {dir}/l --inputs {dir}/i --output {dir}/no/such/dir/o.safetensors", "does not exist")]
    [DataRow("run --layer {dir}/l --inputs {dir}/i --output {dir}/o --device gpu", "Unknown device 'gpu'; expected one of 'auto', 'cpu', 'cuda'")]
    [DataRow("run --layer {dir}/l --inputs {dir}/i --output {dir}/o --strategy fast", "Unknown strategy 'fast'")]
    [DataRow("bench --strategy fast", "Unknown strategy 'fast'")]
    [DataRow("bench --shapes llama", "Unknown shape 'llama'")]
    [DataRow("info {dir}/nothing-here", "does not exist")]
    [DataRow("info", "Required argument 'path' missing")]
    public void BadCommandLineExitsWithTwoAndOneLineOnStandardError(string commandLine, string expected)
    {
        using var directory = new TemporaryDirectory();
        System.IO.File.WriteAllText(directory.File("l"), "");
        System.IO.File.WriteAllText(directory.File("i"), "");
        string[] args = commandLine.Replace("{dir}", directory.Path).Split(' ', System.StringSplitOptions.RemoveEmptyEntries);

        CliResult result = Cli.Run(args);

        Assert.AreEqual(2, result.ExitCode, result.ToString());
        Assert.AreEqual("", result.Output);
        Assert.AreEqual(1, result.Error.TrimEnd('\n').Split('\n').Length, result.Error);
        Assert.StartsWith("b12x", result.Error);
        Assert.Contains(expected, result.Error);
        Assert.IsFalse(System.IO.File.Exists(directory.File("layer.safetensors")), "nothing is written on a usage error");
    }

    [TestMethod]
    [DataRow("run", "--layer", "--inputs", "--output", "--device", "--strategy", "--verbose")]
    [DataRow("info", "<path>", "--verbose")]
    [DataRow("bench", "--device", "--shapes", "--tokens", "--iterations", "--warmup", "--threads", "--seed", "--csv", "--plot", "--strategy", "--verbose")]
    [DataRow("synth", "--output-dir", "--hidden", "--intermediate", "--experts", "--top-k", "--tokens", "--activation", "--quant-mode", "--scale-layout", "--seed", "--verbose")]
    public void EveryCommandHasHelpListingItsFlags(string command, params string[] flags)
    {
        CliResult result = Cli.Run(command, "--help");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.AreEqual("", result.Error);
        foreach (string flag in flags)
        {
            Assert.Contains(flag, result.Output);
        }
    }

    [TestMethod]
    public void RootHelpListsTheCommands()
    {
        CliResult result = Cli.Run("--help");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.IsTrue(new[] { "run", "info", "synth" }.All(c => result.Output.Contains($"  {c}")), result.Output);
    }
}
