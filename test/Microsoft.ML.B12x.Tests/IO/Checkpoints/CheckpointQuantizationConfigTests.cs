using System;
using System.Text.Json.Nodes;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>Which quantisation config is read and how (checkpoint-formats.md §2.1, §3.1, traps T13 and T15).</summary>
[TestClass]
public sealed class CheckpointQuantizationConfigTests
{
    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void ModelOptBlockInConfigJsonIsReadWithOrWithoutQuantMethod(bool withQuantMethod)
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.HfQuantConfig = null;
        var block = new JsonObject { ["quant_algo"] = "NVFP4", ["ignore"] = new JsonArray("lm_head", "model.layers.0.mlp.gate") };
        if (withQuantMethod)
        {
            block["quant_method"] = "modelopt";
        }
        checkpoint.Config["quantization_config"] = block;

        ImportReport report = ImportReport(checkpoint, 0);

        Assert.AreEqual(CheckpointFormat.ModelOpt, report.Format);
        Assert.Contains("config.json quantization_config", report.Quantization);
    }

    [TestMethod]
    public void HfQuantConfigWinsOverAnInheritedQuantizationConfig()
    {
        TinyCheckpoint checkpoint = Tiny();
        checkpoint.Config["quantization_config"] = new JsonObject { ["quant_method"] = "fp8", ["weight_block_size"] = new JsonArray(128, 128) };

        ImportReport report = ImportReport(checkpoint, 1);

        Assert.Contains("hf_quant_config.json", report.Quantization);
        Assert.Contains("producer modelopt 0.35.0", report.Quantization);
    }

    [TestMethod]
    public void MixedPrecisionReadsEachExpertModulesAlgorithm()
    {
        TinyCheckpoint checkpoint = Tiny();
        JsonObject quantization = checkpoint.HfQuantConfig!["quantization"]!.AsObject();
        quantization["quant_algo"] = "MIXED_PRECISION";
        quantization.Remove("group_size");
        var layers = new JsonObject { ["model.layers.0.self_attn.q_proj"] = new JsonObject { ["quant_algo"] = "FP8" } };
        for (int e = 0; e < checkpoint.Spec.Experts; e++)
        {
            foreach (string p in new[] { "gate_proj", "up_proj", "down_proj" })
            {
                layers[$"model.layers.1.mlp.experts.{e}.{p}"] = new JsonObject { ["quant_algo"] = "NVFP4", ["group_size"] = 16 };
            }
        }
        quantization["quantized_layers"] = layers;

        Assert.AreEqual(MoeQuantMode.Nvfp4, ImportReport(checkpoint, 1).Config.QuantMode);
        var e0 = Assert.ThrowsExactly<NotSupportedException>(() => ImportReport(checkpoint, 0));
        Assert.Contains("'model.layers.0.mlp.experts.0.gate_proj' is not listed in 'quantized_layers'", e0.Message);
    }

    [TestMethod]
    public void CompressedTensorsRegexIgnoreMatchesFromTheStart()
    {
        TinyCheckpoint checkpoint = Tiny(CheckpointFormat.CompressedTensors);
        checkpoint.Config["quantization_config"]!["ignore"]!.AsArray().Add("re:.*layers\\.1\\.mlp\\.experts\\.2\\..*");

        Assert.AreEqual(CheckpointFormat.CompressedTensors, ImportReport(checkpoint, 0).Format);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ImportReport(checkpoint, 1));
        Assert.Contains("'model.layers.1.mlp.experts.2.gate_proj' is ignored by quantisation", e.Message);
    }

    [TestMethod]
    public void FullyDynamicActivationsAreNotSupported()
    {
        TinyCheckpoint checkpoint = Tiny(CheckpointFormat.CompressedTensors);
        checkpoint.Config["quantization_config"]!["config_groups"]!["group_0"]!["input_activations"]!["dynamic"] = true;

        var e = Assert.ThrowsExactly<NotSupportedException>(() => ImportReport(checkpoint, 0));

        Assert.Contains("fully dynamic", e.Message);
    }

    private static TinyCheckpoint Tiny(CheckpointFormat format = CheckpointFormat.ModelOpt) =>
        TinyCheckpoint.Create(new TinyCheckpointSpec { Format = format, Seed = 51 });

    private static ImportReport ImportReport(TinyCheckpoint checkpoint, int layer)
    {
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, layer);
        return imported.Report;
    }
}
