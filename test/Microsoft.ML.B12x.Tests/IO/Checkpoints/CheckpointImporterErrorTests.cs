using System;
using System.IO;
using System.Text.Json.Nodes;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>Bad checkpoints and requests: each a clear exception naming the tensor, key or value.</summary>
[TestClass]
public sealed class CheckpointImporterErrorTests
{
    private const string DownScales = "model.layers.1.mlp.experts.2.down_proj.weight_scale";

    [TestMethod]
    public void MissingTensorIsNamed()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Override = t => t.Name == DownScales ? null : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains($"'{DownScales}' is missing", e.Message);
        Assert.Contains("F8_E4M3 [64, 2]", e.Message);
    }

    [TestMethod]
    public void WrongDtypeNamesTheTensorAndBothDtypes()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Override = t => t.Name == DownScales ? t with { Dtype = SafetensorsDtype.F32, Data = new byte[t.Data.Length * 4] } : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains($"'{DownScales}' has dtype F32; expected F8_E4M3", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [TestMethod]
    public void UnquantisedBFloat16WeightIsRejectedByDtype()
    {
        TinyCheckpoint checkpoint = Tiny();
        string name = "model.layers.0.mlp.experts.1.up_proj.weight";
        checkpoint.Override = t => t.Name == name ? t with { Dtype = SafetensorsDtype.BF16, Shape = [32, 64], Data = new byte[32 * 64 * 2] } : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 0));

        Assert.Contains($"'{name}' has dtype BF16; expected U8", e.Message);
    }

    [TestMethod]
    public void WrongShapeNamesTheTensorAndBothShapes()
    {
        TinyCheckpoint checkpoint = Tiny();
        string name = "model.layers.1.mlp.experts.0.gate_proj.weight";
        checkpoint.Override = t => t.Name == name ? t with { Shape = [16, 64] } : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains($"'{name}' has shape [16, 64]; expected [32, 32]", e.Message);
        Assert.Contains("moe_intermediate_size", e.Message);
    }

    [TestMethod]
    public void GlobalScaleOfTwoValuesIsRejected()
    {
        TinyCheckpoint checkpoint = Tiny();
        string name = "model.layers.1.mlp.experts.3.up_proj.weight_scale_2";
        checkpoint.Override = t => t.Name == name ? t with { Shape = [2], Data = new byte[8] } : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains($"'{name}' has shape [2]; expected [] or [1]", e.Message);
    }

    [TestMethod]
    public void NaNBlockScaleIsRejected()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Layers[1].Down[2].Scales[7] = 0x7F;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains($"'{DownScales}' holds the E4M3 NaN byte 0x7F at flat index 7", e.Message);
    }

    [TestMethod]
    [DataRow("FP8")]
    [DataRow("NVFP4_AWQ")]
    public void UnknownModelOptQuantAlgoIsNotSupported(string algorithm)
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.HfQuantConfig!["quantization"]!["quant_algo"] = algorithm;

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 0));

        Assert.Contains($"quant_algo '{algorithm}' is not supported", e.Message);
        Assert.Contains("hf_quant_config.json", e.Message);
    }

    [TestMethod]
    public void UnknownCompressedTensorsFormatIsNotSupported()
    {
        TinyCheckpoint checkpoint = Tiny(CheckpointFormat.CompressedTensors);
        checkpoint.Config["quantization_config"]!["config_groups"]!["group_0"]!["format"] = "float-quantized";

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 0));

        Assert.Contains("format 'float-quantized' is not supported", e.Message);
    }

    [TestMethod]
    public void OtherQuantMethodIsNotSupported()
    {
        TinyCheckpoint checkpoint = Tiny(CheckpointFormat.CompressedTensors);
        checkpoint.Config["quantization_config"]!["quant_method"] = "fp8";

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 0));

        Assert.Contains("quant_method 'fp8' is not supported", e.Message);
    }

    [TestMethod]
    public void UnquantisedCheckpointIsNotSupported()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.HfQuantConfig = null;

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 0));

        Assert.Contains("is not quantised", e.Message);
    }

    [TestMethod]
    public void ExcludedExpertModuleIsNotSupported()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.HfQuantConfig!["quantization"]!["exclude_modules"]!.AsArray().Add("model.layers.1.mlp.experts.*");

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 1));

        Assert.Contains("'model.layers.1.mlp.experts.0.gate_proj' is excluded from quantisation (entry 'model.layers.1.mlp.experts.*')", e.Message);
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(-1)]
    public void LayerOutOfRangeIsAnArgumentError(int layer)
    {
        TinyCheckpoint checkpoint = Tiny();

        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Import(checkpoint, layer));

        Assert.AreEqual("layer", e.ParamName);
    }

    [TestMethod]
    public void LayerWithoutExpertsIsNamed()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Override = t => t.Name.StartsWith("model.layers.1.mlp.experts.", StringComparison.Ordinal) ? null : t;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 1));

        Assert.Contains("layer 1 has no routed experts", e.Message);
        Assert.Contains("layers with routed experts: 0", e.Message);
    }

    [TestMethod]
    [DataRow("Qwen", "hidden_size")]
    [DataRow("Qwen", "num_experts")]
    [DataRow("Mixtral", "intermediate_size")]
    [DataRow("Nemotron", "n_routed_experts")]
    public void MissingConfigKeyIsNamed(string names, string key)
    {
        TinyCheckpoint checkpoint = TinyCheckpoint.Create(new TinyCheckpointSpec { Names = Enum.Parse<ExpertNames>(names) });
        checkpoint.Config.Remove(key);

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 0));

        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains("is missing", e.Message);
    }

    [TestMethod]
    public void MoreExpertsThanTheConfigSaysIsAnError()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Config["num_experts"] = 3;

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 0));

        Assert.Contains("'model.layers.0.mlp.experts.3.down_proj.weight' exists", e.Message);
        Assert.Contains("num_experts = 3", e.Message);
    }

    [TestMethod]
    public void UnsupportedActivationIsNamed()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Config["hidden_act"] = "gelu";

        var e = Assert.ThrowsExactly<NotSupportedException>(() => Import(checkpoint, 0));

        Assert.Contains("hidden_act = 'gelu' is not supported", e.Message);
    }

    [TestMethod]
    public void UncalibratedLayerIsAnError()
    {
        TinyCheckpoint checkpoint = Tiny();
        foreach (StoredProjection p in checkpoint.Layers[0].Down)
        {
            p.InputGlobal = null;
        }

        var e = Assert.ThrowsExactly<InvalidDataException>(() => Import(checkpoint, 0));

        Assert.Contains("no expert has a usable down_proj input scale", e.Message);
        Assert.Contains("model.layers.0.mlp.experts.0.down_proj.input_scale' missing", e.Message);
    }

    [TestMethod]
    public void MissingDirectoryIsNamed()
    {
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => CheckpointImporter.ImportLayer("/nonexistent/b12x-checkpoint", 0));

        Assert.Contains("/nonexistent/b12x-checkpoint", e.Message);
    }

    [TestMethod]
    [DataRow(new byte[] { 0xC3, 0x28 }, DisplayName = "invalid UTF-8 in a string")]
    [DataRow(new byte[] { (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0' }, DisplayName = "a lone surrogate escape")]
    public void AConfigStringThatIsNotValidTextIsInvalidData(byte[] inside)
    {
        using var directory = new TemporaryDirectory();
        Tiny().Write(directory.Path);
        string config = Path.Combine(directory.Path, "config.json");
        // hidden_act's value "silu" (read by the importer) replaced by bytes that decode to no string.
        byte[] text = File.ReadAllBytes(config);
        byte[] silu = "\"silu\""u8.ToArray();
        int at = text.AsSpan().IndexOf(silu) + 1;
        File.WriteAllBytes(config, [.. text[..at], .. inside, .. text[(at + 4)..]]);

        var e = Assert.ThrowsExactly<InvalidDataException>(() => CheckpointImporter.ImportLayer(directory.Path, 0).Dispose());

        Assert.Contains("config.json", e.Message);
        Assert.Contains("not valid text", e.Message);
    }

    private static TinyCheckpoint Tiny(CheckpointFormat format = CheckpointFormat.ModelOpt) =>
        TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, Seed = 21 });

    private static void Import(TinyCheckpoint checkpoint, int layer)
    {
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        CheckpointImporter.ImportLayer(directory.Path, layer).Dispose();
    }
}
