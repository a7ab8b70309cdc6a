using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// Fuzzers for everything that reads files: the safetensors reader and the layer, inputs and output file loaders, fed
/// mutations of valid files (<see cref="SafetensorsMutator"/>). Each hostile file must be either accepted (and then be
/// fully readable, and a loaded layer must run) or rejected with an <see cref="InvalidDataException"/> whose message
/// names the file; never a crash, another exception type, a hang or more managed allocation than the file's size
/// justifies (bounds in <see cref="FuzzRun"/>).
/// </summary>
[TestClass]
public sealed class HostileFileTests
{
    /// <summary>Cases per fuzzer in CI; a case takes about a millisecond, the four fuzzers a few seconds together.</summary>
    private const int Cases = 1500;

    private const int Seed = 20270117;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void SafetensorsReaderRejectsOrFullyReadsEveryHostileFile()
    {
        FuzzCorpus.Seeds seeds = FuzzCorpus.Get();
        Fuzz(nameof(SafetensorsReaderRejectsOrFullyReadsEveryHostileFile), 0, seeds.All, seeds.All, ReadEverything, use: null);
    }

    [TestMethod]
    public void LayerFileLoaderRejectsOrLoadsARunnableLayerFromEveryHostileFile()
    {
        FuzzCorpus.Seeds seeds = FuzzCorpus.Get();
        Fuzz(nameof(LayerFileLoaderRejectsOrLoadsARunnableLayerFromEveryHostileFile), 1, seeds.Layers, seeds.All, path => LayerFile.Load(path), (layer, where) => FuzzRun.RunsOneToken((MoeLayerData)layer, where));
    }

    [TestMethod]
    public void InputsFileLoaderRejectsOrLoadsEveryHostileFile()
    {
        FuzzCorpus.Seeds seeds = FuzzCorpus.Get();
        Fuzz(nameof(InputsFileLoaderRejectsOrLoadsEveryHostileFile), 2, seeds.Inputs, seeds.All, path => InputsFile.Load(path), use: null);
    }

    [TestMethod]
    public void OutputFileLoaderRejectsOrLoadsEveryHostileFile()
    {
        FuzzCorpus.Seeds seeds = FuzzCorpus.Get();
        Fuzz(nameof(OutputFileLoaderRejectsOrLoadsEveryHostileFile), 3, seeds.Outputs, seeds.All, path => OutputFile.Load(path), use: null);
    }

    /// <summary>
    /// Mutates a seed (of <paramref name="own"/> kind 4 times in 5, any kind otherwise), writes it and loads it
    /// (<see cref="FuzzRun"/>); a rejection must be an InvalidDataException naming the file.
    /// </summary>
    private void Fuzz(string name, int seedOffset, IReadOnlyList<byte[]> own, IReadOnlyList<byte[]> any, Func<string, object?> load, Action<object, string>? use)
    {
        PropertyRun run = PropertyRun.Start(TestContext, name, Cases, Seed + seedOffset);
        using var directory = new TemporaryDirectory();
        string path = directory.File("hostile.safetensors");
        FuzzRun.Run(
            run, TestContext,
            random =>
            {
                IReadOnlyList<byte[]> pool = random.Next(5) > 0 ? own : any;
                (byte[] file, string what) = SafetensorsMutator.Mutate(pool[random.Next(pool.Count)], random);
                File.WriteAllBytes(path, file);
                return new FuzzRun.Input(file.Length, what);
            },
            () => load(path),
            error => error is not InvalidDataException ? "not an InvalidDataException"
                : !error.Message.Contains(path, StringComparison.Ordinal) ? "the message does not name the file"
                : null,
            use);
    }

    /// <summary>Opens the file and reads every tensor both ways; unsupported dtypes must say so with NotSupportedException.</summary>
    private static object ReadEverything(string path)
    {
        SafetensorsReader reader = SafetensorsReader.Open(path);
        try
        {
            long dataLength = reader.FileLength - reader.DataStart;
            foreach (SafetensorsTensorInfo info in reader.Tensors)
            {
                Assert.IsTrue(info.DataOffset >= 0 && info.DataOffset + info.ByteLength <= dataLength, $"'{info.Name}' lies outside the data section");
                byte[] bytes = reader.GetBytes(info.Name).ToArray();
                if (SafetensorsDtypes.ToScalarType(info.Dtype) is null)
                {
                    Assert.ThrowsExactly<NotSupportedException>(() => reader.ReadTensor(info.Name));
                    continue;
                }
                using Tensor tensor = reader.ReadTensor(info.Name);
                CollectionAssert.AreEqual(info.ShapeArray(), tensor.shape, $"'{info.Name}' shape");
                CollectionAssert.AreEqual(bytes, TensorPointers.HostSpan<byte>(tensor).ToArray(), $"'{info.Name}' bytes");
            }
            _ = reader.Metadata.Count;
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }
}
