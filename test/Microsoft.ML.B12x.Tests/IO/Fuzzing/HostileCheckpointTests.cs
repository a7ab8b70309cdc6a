using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// Hostile checkpoint directories for the importer and the inspector: tiny valid checkpoints (ModelOpt single-file
/// Qwen naming; compressed-tensors sharded Mixtral naming; ModelOpt weight-only Nemotron relu2) with one file mutated
/// (a safetensors file by <see cref="SafetensorsMutator"/>, a JSON file by <see cref="JsonMutator"/>), deleted, or a
/// stray file added. Every outcome must be an import (whose layer runs), or one of the exceptions the importer
/// documents (InvalidDataException, NotSupportedException, FileNotFoundException, ArgumentOutOfRangeException for
/// the layer), within the time and allocation bounds of <see cref="FuzzRun"/>.
/// </summary>
[TestClass]
public sealed class HostileCheckpointTests
{
    /// <summary>Cases in CI: a case copies a checkpoint of about 60 KB and imports one layer, a few milliseconds.</summary>
    private const int Cases = 600;

    private const int Seed = 20270118;

    private static readonly Lazy<IReadOnlyList<Dictionary<string, byte[]>>> s_seeds = new(Seeds);

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void CheckpointImporterImportsARunnableLayerOrFailsAsDocumentedForEveryHostileCheckpoint()
    {
        PropertyRun run = PropertyRun.Start(TestContext, nameof(CheckpointImporterImportsARunnableLayerOrFailsAsDocumentedForEveryHostileCheckpoint), Cases, Seed);
        using var root = new TemporaryDirectory();
        string directory = root.File("checkpoint");
        int layer = 0;
        FuzzRun.Run(
            run, TestContext,
            random =>
            {
                // Mostly a real layer; sometimes one the config may not have.
                layer = random.Next(5) > 0 ? random.Next(2) : new[] { -1, 2, 1000 }[random.Next(3)];
                FuzzRun.Input input = Write(directory, random);
                return input with { What = $"layer {layer}; {input.What}" };
            },
            () => CheckpointImporter.ImportLayer(directory, layer),
            Judge,
            (imported, where) => FuzzRun.RunsOneToken(((ImportedLayer)imported).Layer, where));
    }

    [TestMethod]
    public void CheckpointInspectorDescribesOrFailsAsDocumentedForEveryHostileCheckpoint()
    {
        PropertyRun run = PropertyRun.Start(TestContext, nameof(CheckpointInspectorDescribesOrFailsAsDocumentedForEveryHostileCheckpoint), Cases, Seed + 1);
        using var root = new TemporaryDirectory();
        string directory = root.File("checkpoint");
        FuzzRun.Run(run, TestContext, random => Write(directory, random), () => CheckpointInspector.Describe(directory), Judge, check: null);
    }

    /// <summary>The importer's and inspector's documented exceptions; any other type is a failure.</summary>
    private static string? Judge(Exception error) => error switch
    {
        InvalidDataException or NotSupportedException => null,
        FileNotFoundException => null,
        ArgumentOutOfRangeException { ParamName: "layer" } => null,
        _ => "not an exception the importer documents",
    };

    /// <summary>Copies a seed checkpoint into <paramref name="directory"/> with one file mutated, deleted or added.</summary>
    private static FuzzRun.Input Write(string directory, Random random)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        var files = new Dictionary<string, byte[]>(s_seeds.Value[random.Next(s_seeds.Value.Count)], StringComparer.Ordinal);
        string[] names = files.Keys.Order(StringComparer.Ordinal).ToArray();
        string name = names[random.Next(names.Length)];
        string what;
        switch (random.Next(20))
        {
            case 0:
                files.Remove(name);
                what = $"{name} deleted";
                break;
            case 1:
                files["extra.safetensors"] = files[names.First(n => n.EndsWith(".safetensors", StringComparison.Ordinal))];
                what = "a copy of a shard added as extra.safetensors";
                break;
            default:
                (byte[] mutated, string edit) = name.EndsWith(".json", StringComparison.Ordinal)
                    ? JsonMutator.Mutate(files[name], random)
                    : SafetensorsMutator.Mutate(files[name], random);
                files[name] = mutated;
                what = $"{name}: {edit}";
                break;
        }
        foreach ((string file, byte[] bytes) in files)
        {
            File.WriteAllBytes(Path.Combine(directory, file), bytes);
        }
        return new FuzzRun.Input(files.Values.Sum(b => (long)b.Length), what);
    }

    private static IReadOnlyList<Dictionary<string, byte[]>> Seeds()
    {
        TinyCheckpointSpec[] specs =
        [
            new() { Format = CheckpointFormat.ModelOpt, Names = ExpertNames.Qwen, Seed = 81 },
            new() { Format = CheckpointFormat.CompressedTensors, Names = ExpertNames.Mixtral, Sharded = true, Seed = 82 },
            new() { Format = CheckpointFormat.ModelOpt, Names = ExpertNames.Nemotron, WeightOnly = true, ScalarsAsVectors = true, Seed = 83 },
        ];
        var seeds = new List<Dictionary<string, byte[]>>();
        foreach (TinyCheckpointSpec spec in specs)
        {
            using var directory = new TemporaryDirectory();
            TinyCheckpoint.Create(spec).Write(directory.Path);
            seeds.Add(Directory.GetFiles(directory.Path).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal));
        }
        return seeds;
    }
}
