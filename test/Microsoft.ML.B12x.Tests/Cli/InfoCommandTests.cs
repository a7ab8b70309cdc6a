using System.IO;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO;
using Microsoft.ML.B12x.Tests.IO.Safetensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class InfoCommandTests
{
    [TestMethod]
    public void LayerFileShowsTensorsMetadataAndDerivedConfig()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.Path, "--scale-layout", "linear", "--activation", "relu2");

        CliResult result = Cli.Run("info", directory.File("layer.safetensors"));

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("8 tensors", result.Output);
        Assert.Contains("  scale_layout = linear", result.Output);
        Assert.Contains("  generator = b12x synth --hidden 32", result.Output);
        StringAssert.Matches(result.Output, new System.Text.RegularExpressions.Regex(@"w1_weight_sf +F8_E4M3 +\[3, 32, 2\] +192 bytes"));
        StringAssert.Matches(result.Output, new System.Text.RegularExpressions.Regex(@"w1_weight +U8 +\[3, 32, 16\] +1536 bytes"));
        Assert.Contains("layer file:", result.Output);
        Assert.Contains("H=32 I=32 E=3 E_loc=3 local_expert_offset=0 K=2", result.Output);
        Assert.Contains("activation=relu2 quant_mode=nvfp4 source_format=modelopt scale_layout=linear", result.Output);
        Assert.Contains("input_global_scale: present", result.Output);
        Assert.AreEqual("", result.Error);
    }

    [TestMethod]
    public void InputsFileShowsItsSizes()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.Path);

        CliResult result = Cli.Run("info", directory.File("inputs.safetensors"));

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("inputs file:", result.Output);
        Assert.Contains("T=5 H=32 K=2 ids=I32", result.Output);
    }

    [TestMethod]
    public void OutputFileShowsItsSizes()
    {
        using var directory = new TemporaryDirectory();
        using Tensor output = zeros(new long[] { 4, 48 }, ScalarType.BFloat16);
        OutputFile.Save(directory.File("out.safetensors"), output);

        CliResult result = Cli.Run("info", directory.File("out.safetensors"));

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("output file:", result.Output);
        Assert.Contains("T=4 H=48", result.Output);
    }

    [TestMethod]
    public void AnySafetensorsFileIsListed()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("other.safetensors");
        new SafetensorsWriter().AddMetadata("format", "pt").Add("embed.weight", SafetensorsDtype.F64, [2, 3], new byte[48]).Save(path);

        CliResult result = Cli.Run("info", path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("  format = pt", result.Output);
        StringAssert.Matches(result.Output, new System.Text.RegularExpressions.Regex(@"embed\.weight +F64 +\[2, 3\] +48 bytes"));
        Assert.DoesNotContain("layer file:", result.Output);
    }

    [TestMethod]
    public void DirectoryListsSafetensorsFilesAndConfigJson()
    {
        using var directory = new TemporaryDirectory();
        Synthesize(directory.Path);
        File.WriteAllText(directory.File("config.json"),
            "{\"model_type\": \"qwen3_moe\", \"num_experts\": 128, \"architectures\": [\"Qwen3MoeForCausalLM\"], \"quantization_config\": {\"quant_algo\": \"NVFP4\", \"group_size\": 16}}");

        CliResult result = Cli.Run("info", directory.Path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("directory, 2 safetensors files, config.json", result.Output);
        Assert.Contains("  inputs.safetensors: ", result.Output);
        Assert.Contains("  layer.safetensors: ", result.Output);
        Assert.Contains("8 tensors (U8×2, F8_E4M3×2, F32×4)", result.Output);
        Assert.Contains("  model_type = \"qwen3_moe\"", result.Output);
        Assert.Contains("  num_experts = 128", result.Output);
        Assert.Contains("  architectures = […] (1 items)", result.Output);
        Assert.Contains("  quantization_config = {…} (2 entries)", result.Output);
    }

    [TestMethod]
    public void DirectoryWithAMalformedFileReportsItAndFails()
    {
        using var directory = new TemporaryDirectory();
        File.WriteAllText(directory.File("broken.safetensors"), "not a safetensors file");

        CliResult result = Cli.Run("info", directory.Path);

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("  broken.safetensors: invalid: ", result.Output);
    }

    [TestMethod]
    public void MalformedFileFailsWithOneLineOnStandardError()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("broken.safetensors");
        RawSafetensorsFile.Write(path, "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);

        CliResult result = Cli.Run("info", path);

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.AreEqual(1, result.Error.TrimEnd('\n').Split('\n').Length, result.Error);
        Assert.StartsWith("b12x info: error: ", result.Error);
        Assert.Contains("tensor 't'", result.Error);
        Assert.DoesNotContain("   at ", result.Error);
    }

    [TestMethod]
    public void VerboseAddsTheStackTrace()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("broken.safetensors");
        File.WriteAllText(path, "x");

        CliResult result = Cli.Run("info", path, "--verbose");

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("System.IO.InvalidDataException", result.Error);
        Assert.Contains("   at ", result.Error);
    }

    [TestMethod]
    public void LayerFileWithoutScaleLayoutFails()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());
        WriteWithoutInputGlobalScale(path, layer, withScaleLayout: false);

        CliResult result = Cli.Run("info", path);

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        Assert.Contains("metadata 'scale_layout' is missing", result.Error);
    }

    [TestMethod]
    public void LayerWithWeightScaleAlphaAndNoInputGlobalScaleIsWarnedAbout()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());
        WriteWithoutInputGlobalScale(path, layer, withScaleLayout: true);

        CliResult result = Cli.Run("info", path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("input_global_scale: absent", result.Output);
        Assert.StartsWith("b12x info: warning: w1_alpha is below 0.01 everywhere", result.Error);
    }

    private static void Synthesize(string directory, params string[] extra)
    {
        CliResult result = Cli.Run([
            "synth", "--output-dir", directory, "--hidden", "32", "--intermediate", "32", "--experts", "3", "--top-k", "2",
            "--tokens", "5", .. extra]);
        Assert.AreEqual(0, result.ExitCode, result.ToString());
    }

    /// <summary>A layer file in FlashInfer's older convention, which this library never writes itself.</summary>
    private static void WriteWithoutInputGlobalScale(string path, MoeLayerData layer, bool withScaleLayout)
    {
        var writer = new SafetensorsWriter();
        if (withScaleLayout)
        {
            writer.AddMetadata("scale_layout", "swizzled128x4");
        }
        writer.Add("w1_weight", layer.W1Weight).Add("w1_weight_sf", layer.W1WeightSf).Add("w2_weight", layer.W2Weight)
            .Add("w2_weight_sf", layer.W2WeightSf).Add("w1_alpha", layer.W1Alpha).Add("w2_alpha", layer.W2Alpha)
            .Add("fc2_input_scale", layer.Fc2InputScale!)
            .Save(path);
    }
}
