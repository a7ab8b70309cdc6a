using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO;

[TestClass]
public sealed class LayerFileTests
{
    [TestMethod]
    [DataRow(ScaleLayout.Swizzled128x4, MoeActivation.Silu)]
    [DataRow(ScaleLayout.Swizzled128x4, MoeActivation.Relu2)]
    [DataRow(ScaleLayout.Linear, MoeActivation.Silu)]
    [DataRow(ScaleLayout.Linear, MoeActivation.Relu2)]
    public void LayerRoundTripsWithItsConfigAndEveryTensorBit(ScaleLayout layout, MoeActivation activation)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData original = LayerFixtures.Layer(LayerFixtures.Config(layout, activation));

        LayerFile.Save(path, original);
        using MoeLayerData loaded = LayerFile.Load(path);

        Assert.AreEqual(original.Config, loaded.Config);
        Assert.AreEqual(path, loaded.SourcePath);
        AssertSameBits(original.W1Weight, loaded.W1Weight);
        AssertSameBits(original.W1WeightSf, loaded.W1WeightSf);
        AssertSameBits(original.W2Weight, loaded.W2Weight);
        AssertSameBits(original.W2WeightSf, loaded.W2WeightSf);
        AssertSameBits(original.W1Alpha, loaded.W1Alpha);
        AssertSameBits(original.W2Alpha, loaded.W2Alpha);
        AssertSameBits(original.Fc2InputScale!, loaded.Fc2InputScale!);
        AssertSameBits(original.InputGlobalScale!, loaded.InputGlobalScale!);
    }

    [TestMethod]
    public void ScalesAreStoredAsE4M3AndEveryLayerKeyIsWritten()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Linear, MoeActivation.Relu2));

        LayerFile.Save(path, layer);
        using SafetensorsReader reader = SafetensorsReader.Open(path);

        Assert.AreEqual(SafetensorsDtype.F8E4M3, reader.Get("w1_weight_sf").Dtype);
        Assert.AreEqual(SafetensorsDtype.F8E4M3, reader.Get("w2_weight_sf").Dtype);
        Assert.AreEqual("linear", reader.Metadata["scale_layout"]);
        Assert.AreEqual("relu2", reader.Metadata["activation"]);
        Assert.AreEqual("nvfp4", reader.Metadata["quant_mode"]);
        Assert.AreEqual("modelopt", reader.Metadata["source_format"]);
        Assert.AreEqual("3", reader.Metadata["num_experts"]);
        Assert.AreEqual("2", reader.Metadata["top_k"]);
        Assert.AreEqual("3", reader.Metadata["num_local_experts"]);
        Assert.AreEqual("0", reader.Metadata["local_expert_offset"]);
    }

    [TestMethod]
    public void SwizzledScalesHavePaddedShape()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Swizzled128x4, hidden: 32, intermediate: 48));

        LayerFile.Save(path, layer);
        using SafetensorsReader reader = SafetensorsReader.Open(path);

        // W1: N = 2·48 = 96 rows → Np 128; C = 32 → 2 blocks → Cbp 4. W2: N = 32 → 128; C = 48 → 3 blocks → 4.
        CollectionAssert.AreEqual(new long[] { 3, 128, 4 }, reader.Get("w1_weight_sf").ShapeArray());
        CollectionAssert.AreEqual(new long[] { 3, 128, 4 }, reader.Get("w2_weight_sf").ShapeArray());
    }

    [TestMethod]
    public void ScalesStoredAsU8AreAccepted()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());
        WriteLayer(path, layer, metadata => { }, tensors => { });

        using MoeLayerData loaded = LayerFile.Load(path);

        AssertSameBits(layer.W1WeightSf, loaded.W1WeightSf);
    }

    [TestMethod]
    public void FileWithOnlyScaleLayoutGetsFlashInferDefaults()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());
        WriteLayer(path, layer, metadata => metadata.RemoveAll(e => e.Key != "scale_layout"), tensors => { });

        using MoeLayerData loaded = LayerFile.Load(path);

        Assert.AreEqual(MoeActivation.Silu, loaded.Config.Activation);
        Assert.AreEqual(MoeQuantMode.Nvfp4, loaded.Config.QuantMode);
        Assert.AreEqual(MoeSourceFormat.ModelOpt, loaded.Config.SourceFormat);
        Assert.AreEqual(3, loaded.Config.NumExperts);
        Assert.AreEqual(3, loaded.Config.NumLocalExperts);
        Assert.AreEqual(0, loaded.Config.LocalExpertOffset);
        Assert.IsNull(loaded.Config.TopK);
    }

    [TestMethod]
    public void MissingScaleLayoutIsAClearError()
    {
        string message = LoadError(metadata => metadata.RemoveAll(e => e.Key == "scale_layout"), tensors => { });

        Assert.Contains("metadata 'scale_layout' is missing; it is required (no default)", message);
        Assert.Contains("'swizzled128x4' or 'linear'", message);
    }

    [TestMethod]
    [DataRow("activation", "SiLU", "Unknown activation 'SiLU'; expected one of 'silu', 'relu2'")]
    [DataRow("quant_mode", "int4", "Unknown quant_mode 'int4'")]
    [DataRow("source_format", "gptq", "Unknown source_format 'gptq'")]
    [DataRow("scale_layout", "swizzled", "Unknown scale_layout 'swizzled'; expected one of 'swizzled128x4', 'linear'")]
    [DataRow("num_experts", "three", "metadata 'num_experts' = 'three' must be a decimal integer of at least 1")]
    [DataRow("top_k", "0", "metadata 'top_k' = '0' must be a decimal integer of at least 1")]
    [DataRow("local_expert_offset", "-1", "metadata 'local_expert_offset' = '-1' must be a decimal integer of at least 0")]
    [DataRow("num_local_experts", "2", "metadata 'num_local_experts' = 2 but the weight tensors hold 3 experts")]
    [DataRow("local_expert_offset", "1", "metadata 'local_expert_offset' = 1 plus 3 local experts exceeds 'num_experts' = 3")]
    public void BadMetadataValueIsNamed(string key, string value, string expected)
    {
        string message = LoadError(metadata => Replace(metadata, key, value), tensors => { });

        Assert.Contains(expected, message);
    }

    [TestMethod]
    public void CompressedTensorsWithNvfp4IsRejected()
    {
        string message = LoadError(metadata => Replace(metadata, "source_format", "compressed_tensors"), tensors => { });

        Assert.Contains("'compressed_tensors' requires 'quant_mode' = 'w4a16'", message);
    }

    [TestMethod]
    public void NumExpertsBeyondTheTensorsNeedsNumLocalExperts()
    {
        string message = LoadError(
            metadata =>
            {
                Replace(metadata, "num_experts", "8");
                metadata.RemoveAll(e => e.Key == "num_local_experts");
            },
            tensors => { });

        Assert.Contains("hold 3 experts but metadata 'num_experts' = 8", message);
    }

    [TestMethod]
    public void ExpertParallelShardLoads()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("shard.safetensors");
        MoeLayerConfig config = LayerFixtures.Config() with { NumExperts = 8, LocalExpertOffset = 4 };
        using MoeLayerData layer = LayerFixtures.Layer(config);

        LayerFile.Save(path, layer);
        using MoeLayerData loaded = LayerFile.Load(path);

        Assert.AreEqual(config, loaded.Config);
    }

    [TestMethod]
    public void MissingFc2InputScaleInNvfp4IsAnError()
    {
        string message = LoadError(metadata => { }, tensors => tensors.Remove("fc2_input_scale"));

        Assert.Contains("tensor 'fc2_input_scale' is missing; it is required when 'quant_mode' is nvfp4", message);
    }

    [TestMethod]
    public void W4A16LayerLoadsWithoutActivationScales()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(quantMode: MoeQuantMode.W4A16));

        LayerFile.Save(path, layer);
        using MoeLayerData loaded = LayerFile.Load(path);

        Assert.AreEqual(MoeQuantMode.W4A16, loaded.Config.QuantMode);
        Assert.IsNull(loaded.Fc2InputScale);
        Assert.IsNull(loaded.InputGlobalScale);
    }

    [TestMethod]
    [DataRow("w1_weight")]
    [DataRow("w2_weight_sf")]
    [DataRow("w1_alpha")]
    public void MissingRequiredTensorIsNamed(string name)
    {
        string message = LoadError(metadata => { }, tensors => tensors.Remove(name));

        Assert.Contains($"tensor '{name}' is missing", message);
    }

    [TestMethod]
    public void UnexpectedTensorIsRejected()
    {
        string message = LoadError(metadata => { }, tensors => tensors["w1_bias"] = ones(3));

        Assert.Contains("unexpected tensor 'w1_bias'", message);
    }

    [TestMethod]
    public void W1RowsInconsistentWithTheActivationAreRejected()
    {
        // A silu layer (2I rows) declared relu2 (I rows).
        string message = LoadError(metadata => Replace(metadata, "activation", "relu2"), tensors => { });

        Assert.Contains("tensor 'w1_weight' must have shape [E_loc, I, H/2] = [3, 48, 16] for activation relu2", message);
        Assert.Contains("got [3, 96, 16]", message);
    }

    [TestMethod]
    public void LinearScalesUnderSwizzledLayoutAreRejected()
    {
        using MoeLayerData linear = LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Linear));

        string message = LoadError(metadata => { }, tensors => tensors["w2_weight_sf"] = linear.W2WeightSf);

        Assert.Contains("tensor 'w2_weight_sf' must have shape [E_loc, Np, Cbp] = [3, 128, 4] for scale_layout 'swizzled128x4'", message);
        Assert.Contains("got [3, 32, 3]", message);
    }

    [TestMethod]
    public void EmptyW2WhoseIntermediateSizeExceedsInt32MaxIsRejected()
    {
        // No bytes, so the file is small, but I = 2·(2^31 - 1) does not fit the operator's sizes.
        string message = LoadError(metadata => { }, tensors => tensors["w2_weight"] = empty(new long[] { 0, 32, int.MaxValue }, ScalarType.Byte));

        Assert.Contains("tensor 'w2_weight' of shape [0, 32, 2147483647] gives E_loc = 0, H = 32, I = 4294967294", message);
    }

    [TestMethod]
    public void WeightsOfTheWrongDtypeAreRejected()
    {
        string message = LoadError(metadata => { }, tensors => tensors["w2_weight"] = zeros(new long[] { 3, 32, 24 }, ScalarType.Int32));

        Assert.Contains("tensor 'w2_weight' must have dtype U8; got I32", message);
    }

    [TestMethod]
    public void AlphaOfTheWrongLengthIsRejected()
    {
        string message = LoadError(metadata => { }, tensors => tensors["w2_alpha"] = ones(2));

        Assert.Contains("tensor 'w2_alpha' must have shape [1], [num_experts = 3] or [num_local_experts = 3]; got [2]", message);
    }

    [TestMethod]
    public void NonPositiveAlphaIsRejected()
    {
        string message = LoadError(metadata => { }, tensors => tensors["w1_alpha"] = tensor(new[] { 1e-4f, 0f, 1e-4f }));

        Assert.Contains("tensor 'w1_alpha'[1] = 0 must be finite and > 0", message);
    }

    [TestMethod]
    public void SavingNvfp4WithoutInputGlobalScaleIsRefused()
    {
        using var directory = new TemporaryDirectory();
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(), inputGlobalScale: false);

        var error = Assert.ThrowsExactly<ArgumentException>(() => LayerFile.Save(directory.File("layer.safetensors"), layer));

        Assert.Contains("'input_global_scale' is required for nvfp4 layers", error.Message);
        Assert.IsFalse(File.Exists(directory.File("layer.safetensors")));
    }

    [TestMethod]
    public void SavingAConfigThatDisagreesWithTheTensorsIsRefused()
    {
        using var directory = new TemporaryDirectory();
        using MoeLayerData source = LayerFixtures.Layer(LayerFixtures.Config());
        using var layer = new MoeLayerData(
            source.Config with { Hidden = 64 }, source.W1Weight.clone(), source.W1WeightSf.clone(), source.W2Weight.clone(),
            source.W2WeightSf.clone(), source.W1Alpha.clone(), source.W2Alpha.clone(), source.Fc2InputScale!.clone(), source.InputGlobalScale!.clone());

        var error = Assert.ThrowsExactly<ArgumentException>(() => LayerFile.Save(directory.File("layer.safetensors"), layer));

        Assert.Contains("the configuration says H = 64", error.Message);
        Assert.Contains("the tensors give H = 32", error.Message);
    }

    [TestMethod]
    public void ExtraMetadataIsWrittenButCannotOverrideALayerKey()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());

        LayerFile.Save(path, layer, new Dictionary<string, string> { ["import_report"] = "ok" });
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => LayerFile.Save(path, layer, new Dictionary<string, string> { ["activation"] = "relu2" }));
        using SafetensorsReader reader = SafetensorsReader.Open(path);

        Assert.AreEqual("ok", reader.Metadata["import_report"]);
        Assert.Contains("must not set the layer key 'activation'", error.Message);
    }

    [TestMethod]
    public void ExplicitOptionContradictingTheFileIsAnError()
    {
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(activation: MoeActivation.Relu2));

        var error = Assert.ThrowsExactly<ArgumentException>(() => layer.EnsureAgrees(activation: MoeActivation.Silu));

        Assert.AreEqual("activation", error.ParamName);
        Assert.Contains("activation = silu contradicts the layer file", error.Message);
        Assert.Contains("which says relu2", error.Message);
    }

    [TestMethod]
    public void ExplicitOptionsThatAgreeWithTheFileAreAccepted()
    {
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Linear));

        layer.EnsureAgrees(MoeActivation.Silu, MoeQuantMode.Nvfp4, MoeSourceFormat.ModelOpt, ScaleLayout.Linear, 3, 2, 3, 0);
    }

    [TestMethod]
    public void CreatedOptionsCarryTheFileModesAndScales()
    {
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Linear, MoeActivation.Relu2));

        FusedMoeOptions options = layer.CreateOptions(KernelStrategy.Static, ComputeDevice.Cpu);

        Assert.AreEqual(MoeActivation.Relu2, options.Activation);
        Assert.AreEqual(ScaleLayout.Linear, options.ScaleLayout);
        Assert.AreEqual(3, options.NumLocalExperts);
        Assert.AreSame(layer.Fc2InputScale, options.Fc2InputScale);
        Assert.AreSame(layer.InputGlobalScale, options.InputGlobalScale);
        Assert.AreEqual(KernelStrategy.Static, options.Strategy);
        Assert.AreEqual(ComputeDevice.Cpu, options.Device);
    }

    private static void AssertSameBits(Tensor expected, Tensor actual)
    {
        Assert.AreEqual(TensorChecks.ShapeText(expected.shape), TensorChecks.ShapeText(actual.shape));
        CollectionAssert.AreEqual(TensorPointers.HostSpan<byte>(expected).ToArray(), TensorPointers.HostSpan<byte>(actual).ToArray());
    }

    private static void Replace(List<KeyValuePair<string, string>> metadata, string key, string value)
    {
        metadata.RemoveAll(e => e.Key == key);
        metadata.Add(new(key, value));
    }

    /// <summary>Writes a valid layer's file with edits, loads it and returns the InvalidDataException's message.</summary>
    private static string LoadError(Action<List<KeyValuePair<string, string>>> editMetadata, Action<Dictionary<string, Tensor>> editTensors)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using MoeLayerData layer = LayerFixtures.Layer(LayerFixtures.Config());
        WriteLayer(path, layer, editMetadata, editTensors);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => LayerFile.Load(path).Dispose());

        Assert.Contains(path, error.Message);
        return error.Message;
    }

    /// <summary>Writes a layer file with the plain safetensors writer (scales as U8), after the given edits.</summary>
    private static void WriteLayer(
        string path, MoeLayerData layer, Action<List<KeyValuePair<string, string>>> editMetadata, Action<Dictionary<string, Tensor>> editTensors)
    {
        var metadata = new List<KeyValuePair<string, string>>
        {
            new("activation", ModeSpellings.ToSpelling(layer.Config.Activation)),
            new("quant_mode", ModeSpellings.ToSpelling(layer.Config.QuantMode)),
            new("source_format", ModeSpellings.ToSpelling(layer.Config.SourceFormat)),
            new("scale_layout", ModeSpellings.ToSpelling(layer.Config.ScaleLayout)),
            new("num_experts", layer.Config.NumExperts.ToString()),
            new("num_local_experts", layer.Config.NumLocalExperts.ToString()),
            new("local_expert_offset", "0"),
            new("top_k", "2"),
        };
        var tensors = new Dictionary<string, Tensor>
        {
            ["w1_weight"] = layer.W1Weight,
            ["w1_weight_sf"] = layer.W1WeightSf,
            ["w2_weight"] = layer.W2Weight,
            ["w2_weight_sf"] = layer.W2WeightSf,
            ["w1_alpha"] = layer.W1Alpha,
            ["w2_alpha"] = layer.W2Alpha,
            ["fc2_input_scale"] = layer.Fc2InputScale!,
            ["input_global_scale"] = layer.InputGlobalScale!,
        };
        editMetadata(metadata);
        editTensors(tensors);
        var writer = new SafetensorsWriter();
        metadata.ForEach(e => writer.AddMetadata(e.Key, e.Value));
        foreach ((string name, Tensor tensor) in tensors)
        {
            writer.Add(name, tensor);
        }
        writer.Save(path);
    }
}
