using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Fuzzing;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.MLNet;

/// <summary>
/// Hostile saved transformers for <see cref="FusedMoeTransformer.Load"/>: zips saved by the transformer (column- and
/// logit-routed) with config.json mutated (<see cref="JsonMutator"/>), the layer file mutated
/// (<see cref="SafetensorsMutator"/>), an entry dropped, renamed, duplicated or compressed, or the archive's bytes
/// edited. Each must load into a working transformer or fail with an InvalidDataException naming the zip (not a
/// temporary copy of its entry), within the bounds of <see cref="FuzzRun"/>.
/// </summary>
[TestClass]
public sealed class FusedMoeHostileModelFileTests
{
    /// <summary>Cases in CI: each loads a zip of about 30 KB, a few milliseconds.</summary>
    private const int Cases = 600;

    private const int Seed = 20270119;

    private static readonly Lazy<IReadOnlyList<byte[]>> s_seeds = new(Seeds);

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void LoadGivesAWorkingTransformerOrInvalidDataForEveryHostileZip()
    {
        PropertyRun run = PropertyRun.Start(TestContext, nameof(LoadGivesAWorkingTransformerOrInvalidDataForEveryHostileZip), Cases, Seed);
        using var directory = new TemporaryDirectory();
        string path = directory.File("hostile.zip");
        var mlContext = new MLContext(seed: 0);
        MlNetCase rows = MlNetCase.Create(tokens: 3, seed: 91);
        IDataView input = rows.DataView(mlContext);
        FuzzRun.Run(
            run, TestContext,
            random =>
            {
                (byte[] zip, string what) = Mutate(s_seeds.Value[random.Next(s_seeds.Value.Count)], random);
                File.WriteAllBytes(path, zip);
                return new FuzzRun.Input(zip.Length, what);
            },
            () => FusedMoeTransformer.Load(mlContext, path, ComputeDevice.Cpu),
            error => error is not InvalidDataException ? "not an InvalidDataException"
                : !error.Message.Contains(path, StringComparison.Ordinal) ? "the message does not name the file"
                : null,
            (loaded, where) =>
            {
                var transformer = (FusedMoeTransformer)loaded;
                try
                {
                    Assert.HasCount(rows.Rows.Count, MlNetCase.ReadVectors(transformer.Transform(input), transformer.Options.OutputColumnName), where);
                }
                catch (ArgumentOutOfRangeException e) when (e.ParamName == "inputSchema")
                {
                    // The file's options name other columns: the schema check says so, as for any transformer.
                }
            });
    }

    [TestMethod]
    public void ASavedTransformerWhoseOptionsCannotMakeATransformerIsInvalidData()
    {
        // Routed by columns and by router logits at once: each option alone is well-formed JSON of the right type.
        using var directory = new TemporaryDirectory();
        string path = directory.File("contradiction.zip");
        List<(string Name, byte[] Bytes)> entries = Entries(s_seeds.Value[0]);
        int config = entries.FindIndex(e => e.Name == "config.json");
        var root = System.Text.Json.Nodes.JsonNode.Parse(entries[config].Bytes)!;
        root["options"]!["RouterLogitsColumnName"] = nameof(MoeRow.RouterLogits);
        entries[config] = ("config.json", System.Text.Encoding.UTF8.GetBytes(root.ToJsonString()));
        File.WriteAllBytes(path, Zip(entries, CompressionLevel.NoCompression));

        var error = Assert.ThrowsExactly<InvalidDataException>(() => FusedMoeTransformer.Load(new MLContext(seed: 0), path, ComputeDevice.Cpu));

        Assert.Contains(path, error.Message);
        Assert.Contains("RouterLogitsColumnName", error.Message);
    }

    [TestMethod]
    public void ALayerEntryThatExpandsFarBeyondTheArchiveIsRejectedBeforeItIsExtracted()
    {
        // 256 MiB of zeros deflate to a few hundred KiB: extracting such an entry would write a thousand times the
        // archive's size to the temporary folder before any check of the layer file could run.
        using var directory = new TemporaryDirectory();
        string path = directory.File("expanding.zip");
        byte[] config = Entries(s_seeds.Value[0]).First(e => e.Name == "config.json").Bytes;
        using (var archive = new ZipArchive(File.Create(path), ZipArchiveMode.Create))
        {
            using (Stream entry = archive.CreateEntry("config.json").Open())
            {
                entry.Write(config);
            }
            using Stream layer = archive.CreateEntry("layer.safetensors", CompressionLevel.Optimal).Open();
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++)
            {
                layer.Write(zeros);
            }
        }

        var error = Assert.ThrowsExactly<InvalidDataException>(() => FusedMoeTransformer.Load(new MLContext(seed: 0), path, ComputeDevice.Cpu));

        Assert.Contains(path, error.Message);
        Assert.Contains($"expands to {256 << 20} bytes, more than the archive's {new FileInfo(path).Length}", error.Message);
    }

    [TestMethod]
    public void ABrokenLayerEntryIsReportedWithTheArchiveAndTheEntryNotATemporaryCopy()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("broken-layer.zip");
        List<(string Name, byte[] Bytes)> entries = Entries(s_seeds.Value[0]);
        int layer = entries.FindIndex(e => e.Name == "layer.safetensors");
        entries[layer] = ("layer.safetensors", new byte[16]);
        File.WriteAllBytes(path, Zip(entries, CompressionLevel.NoCompression));

        var error = Assert.ThrowsExactly<InvalidDataException>(() => FusedMoeTransformer.Load(new MLContext(seed: 0), path, ComputeDevice.Cpu));

        Assert.StartsWith($"{path} is not a saved FusedMoeTransformer: its entry 'layer.safetensors' is not a valid layer file: layer.safetensors is not a valid safetensors file", error.Message);
    }

    /// <summary>A structural edit of the archive's entries (4 times in 5) or an edit of its bytes.</summary>
    private static (byte[] Zip, string What) Mutate(byte[] seed, Random random)
    {
        if (random.Next(5) == 0)
        {
            byte[] bytes = (byte[])seed.Clone();
            switch (random.Next(3))
            {
                case 0:
                    int at = random.Next(bytes.Length);
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    return (bytes, $"bit flipped in byte {at} of the zip");
                case 1:
                    int keep = random.Next(bytes.Length);
                    return (bytes[..keep], $"zip truncated to {keep} bytes");
                default:
                    return ([.. bytes, .. new byte[random.Next(1, 64)]], "zeros appended to the zip");
            }
        }
        List<(string Name, byte[] Bytes)> entries = Entries(seed);
        int index = random.Next(entries.Count);
        (string name, byte[] content) = entries[index];
        CompressionLevel level = CompressionLevel.NoCompression;
        string what;
        switch (random.Next(10))
        {
            case 0:
                entries.RemoveAt(index);
                what = $"entry '{name}' dropped";
                break;
            case 1:
                entries[index] = (name.ToUpperInvariant(), content);
                what = $"entry '{name}' renamed";
                break;
            case 2:
                entries.Add((name, content));
                what = $"entry '{name}' twice";
                break;
            case 3:
                level = CompressionLevel.Optimal;
                what = "entries compressed";
                break;
            default:
                (byte[] mutated, string edit) = name.EndsWith(".json", StringComparison.Ordinal)
                    ? JsonMutator.Mutate(content, random)
                    : SafetensorsMutator.Mutate(content, random);
                entries[index] = (name, mutated);
                what = $"{name}: {edit}";
                break;
        }
        return (Zip(entries, level), what);
    }

    private static List<(string Name, byte[] Bytes)> Entries(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return archive.Entries.Select(e =>
        {
            using Stream stream = e.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return (e.FullName, copy.ToArray());
        }).ToList();
    }

    private static byte[] Zip(List<(string Name, byte[] Bytes)> entries, CompressionLevel level)
    {
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach ((string name, byte[] bytes) in entries)
            {
                using Stream entry = archive.CreateEntry(name, level).Open();
                entry.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>Two saved transformers: column-routed with batches of 5, logit-routed (softmax top-k).</summary>
    private static IReadOnlyList<byte[]> Seeds()
    {
        var mlContext = new MLContext(seed: 0);
        MlNetCase c = MlNetCase.Create(tokens: 4, seed: 92);
        using var directory = new TemporaryDirectory();
        var seeds = new List<byte[]>();
        foreach (FusedMoeTransformerOptions options in new[] { MlNetCase.ColumnRouted(batchSize: 5), MlNetCase.LogitRouted(RouterKind.SoftmaxTopK) })
        {
            using MoeWeights weights = c.Weights();
            using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, options).Fit(c.DataView(mlContext));
            string path = directory.File($"seed{seeds.Count}.zip");
            transformer.Save(path);
            seeds.Add(File.ReadAllBytes(path));
        }
        return seeds;
    }
}
