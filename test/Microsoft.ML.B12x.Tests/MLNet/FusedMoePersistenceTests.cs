using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

[TestClass]
public sealed class FusedMoePersistenceTests
{
    [TestMethod]
    public void SaveThenLoadGivesBitIdenticalOutputs()
    {
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 20);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        var options = MlNetCase.LogitRouted(RouterKind.SoftmaxTopK, batchSize: 6) with { NormalizeTopKWeights = false, StaticMaxPairs = 100 };
        using FusedMoeTransformer original = mlContext.Transforms.FusedMoe(weights, options).Fit(input);
        string path = directory.File("moe.zip");

        original.Save(path);
        using FusedMoeTransformer loaded = FusedMoeTransformer.Load(mlContext, path, ComputeDevice.Cpu);

        Assert.AreEqual(original.Options, loaded.Options);
        ushort[] before = MlNetCase.Bits(MlNetCase.ReadVectors(original.Transform(input), "Output"));
        ushort[] after = MlNetCase.Bits(MlNetCase.ReadVectors(loaded.Transform(input), "Output"));
        BitAssert.Equal(before, after, MlNetCase.Hidden, "after save and load");
        Assert.IsTrue(after.Any(b => b != 0));
    }

    [TestMethod]
    public void TheZipHoldsTheConfigAndTheLayerFileAsItWas()
    {
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 4);
        using MoeWeights weights = WeightsFromLayerFile(c, directory.File("layer.safetensors"));
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext));

        transformer.Save(directory.File("moe.zip"));

        using ZipArchive zip = ZipFile.OpenRead(directory.File("moe.zip"));
        CollectionAssert.AreEquivalent(new[] { "config.json", "layer.safetensors" }, zip.Entries.Select(e => e.FullName).ToArray());
        CollectionAssert.AreEqual(File.ReadAllBytes(directory.File("layer.safetensors")), EntryBytes(directory.File("moe.zip"), "layer.safetensors"));
        using var config = new StreamReader(zip.GetEntry("config.json")!.Open());
        string json = config.ReadToEnd();
        StringAssert.Contains(json, "\"format\": \"Microsoft.ML.B12x.FusedMoeTransformer\"");
        StringAssert.Contains(json, "\"ExpertIdsColumnName\": \"ExpertIds\"");
    }

    [TestMethod]
    public void ALoadedTransformerSavesTheSameLayerFileAgain()
    {
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 4);
        using MoeWeights weights = c.Weights();
        using (FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext)))
        {
            transformer.Save(directory.File("first.zip"));
        }
        using FusedMoeTransformer loaded = FusedMoeTransformer.Load(mlContext, directory.File("first.zip"), ComputeDevice.Cpu);

        loaded.Save(directory.File("second.zip"));

        CollectionAssert.AreEqual(EntryBytes(directory.File("first.zip"), "layer.safetensors"), EntryBytes(directory.File("second.zip"), "layer.safetensors"));
        StringAssert.EndsWith(loaded.Weights.SourcePath, "first.zip!layer.safetensors");
    }

    [TestMethod]
    public void SavingAfterTheLayerFileChangedFails()
    {
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 4);
        using MoeWeights weights = WeightsFromLayerFile(c, directory.File("layer.safetensors"));
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted()).Fit(c.DataView(mlContext));
        File.AppendAllText(directory.File("layer.safetensors"), " ");

        var error = Assert.ThrowsExactly<InvalidOperationException>(() => transformer.Save(directory.File("moe.zip")));

        StringAssert.Contains(error.Message, "changed or disappeared");
        Assert.IsFalse(File.Exists(directory.File("moe.zip")), "no partial file is left");
    }

    [TestMethod]
    public void LoadingSomethingElseFailsWithInvalidData()
    {
        using var directory = new TemporaryDirectory();
        File.WriteAllText(directory.File("not-a-zip.zip"), "hello");
        using (var zip = ZipFile.Open(directory.File("other.zip"), ZipArchiveMode.Create))
        {
            using var writer = new StreamWriter(zip.CreateEntry("config.json").Open());
            writer.Write("{\"format\": \"something-else\", \"version\": 1}");
        }
        var mlContext = new MLContext(seed: 0);

        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(
            () => FusedMoeTransformer.Load(mlContext, directory.File("not-a-zip.zip"), ComputeDevice.Cpu)).Message, "not a zip archive");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(
            () => FusedMoeTransformer.Load(mlContext, directory.File("other.zip"), ComputeDevice.Cpu)).Message, "format 'something-else'");
        Assert.ThrowsExactly<FileNotFoundException>(() => FusedMoeTransformer.Load(mlContext, directory.File("missing.zip"), ComputeDevice.Cpu));
    }

    [TestMethod]
    public void MlContextModelSaveFailsPointingToTheTransformersOwnSave()
    {
        using var directory = new TemporaryDirectory();
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 4);
        using MoeWeights weights = c.Weights();
        IDataView input = c.DataView(mlContext);
        var chain = mlContext.Transforms.CopyColumns("X", nameof(MoeRow.HiddenStates))
            .Append(mlContext.Transforms.FusedMoe(weights, MlNetCase.ColumnRouted() with { HiddenStatesColumnName = "X" }))
            .Fit(input);

        Exception error = Assert.Throws<Exception>(() => mlContext.Model.Save(chain, input.Schema, directory.File("model.zip")));

        Exception root = error;
        while (root.InnerException is not null && root is not NotSupportedException)
        {
            root = root.InnerException;
        }
        Assert.IsInstanceOfType<NotSupportedException>(root, error.ToString());
        StringAssert.Contains(root.Message, "FusedMoeTransformer.Save(path)");
        StringAssert.Contains(root.Message, "FusedMoeTransformer.Load(mlContext, path, device)");
        chain.LastTransformer.Dispose();
    }

    /// <summary>Writes the case's layer to a layer file at <paramref name="path"/> and loads CPU weights from it.</summary>
    private static MoeWeights WeightsFromLayerFile(MlNetCase c, string path)
    {
        using (MoeWeights inMemory = c.Weights())
        using (MoeLayerDataCopy copy = new(inMemory))
        {
            LayerFile.Save(path, copy.Layer);
        }
        return MoeWeights.FromLayerFile(path, ComputeDevice.Cpu);
    }

    private static byte[] EntryBytes(string zipPath, string entryName)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        using Stream entry = zip.GetEntry(entryName)!.Open();
        using var bytes = new MemoryStream();
        entry.CopyTo(bytes);
        return bytes.ToArray();
    }

    /// <summary>A <see cref="MoeLayerData"/> over copies of a <see cref="MoeWeights"/>' tensors, for writing a layer file.</summary>
    private sealed class MoeLayerDataCopy(MoeWeights weights) : IDisposable
    {
        public MoeLayerData Layer { get; } = new(
            weights.Config, weights.W1Weight.clone(), weights.W1WeightSf.clone(), weights.W2Weight.clone(), weights.W2WeightSf.clone(),
            weights.W1Alpha.clone(), weights.W2Alpha.clone(), weights.Fc2InputScale?.clone(), weights.InputGlobalScale?.clone());

        public void Dispose() => Layer.Dispose();
    }
}
