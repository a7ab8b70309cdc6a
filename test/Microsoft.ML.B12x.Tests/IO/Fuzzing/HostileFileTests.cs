using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
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
/// names the file; never a crash, another exception type, a load slower than <see cref="s_timeBound"/>, or more managed
/// allocation than <see cref="AllocationBound"/> allows for the file's size.
/// </summary>
[TestClass]
public sealed class HostileFileTests
{
    /// <summary>Cases per fuzzer in CI; a case takes about a millisecond, the four fuzzers a few seconds together.</summary>
    private const int Cases = 1500;

    private const int Seed = 20270117;

    /// <summary>
    /// Per load: real loads of these kilobyte files take milliseconds; the bound is that much above the slowest case
    /// seen on 2 busy cores, so only a hang (or an absurd amount of work) trips it.
    /// </summary>
    private static readonly TimeSpan s_timeBound = TimeSpan.FromSeconds(5);

    public TestContext TestContext { get; set; } = null!;

    /// <summary>
    /// Managed bytes a load may allocate: 16 per file byte plus 1 MiB. The parse holds the header once as bytes (1×),
    /// JsonDocument's token table (12 bytes per token, a token at least 2 header bytes: 6×), names and metadata as
    /// UTF-16 strings (2×) and shapes as long arrays (8 bytes per dimension of at least 2 header bytes: 4×), 13× in
    /// the worst case; the constant covers exception objects, TorchSharp's tensor wrappers and first-use caches.
    /// Trusting a header's claimed sizes (up to 2^63 bytes) would exceed this by orders of magnitude.
    /// </summary>
    private static long AllocationBound(long fileBytes) => 16 * fileBytes + (1 << 20);

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
        Fuzz(nameof(LayerFileLoaderRejectsOrLoadsARunnableLayerFromEveryHostileFile), 1, seeds.Layers, seeds.All, path => LayerFile.Load(path), RunOneToken);
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
    /// Mutates a seed (of <paramref name="own"/> kind 4 times in 5, any kind otherwise), writes it, loads it under the
    /// bounds, checks the outcome and, when it loaded, hands the result to <paramref name="use"/> (outside the
    /// allocation measure, inside the time bound's spirit: it runs on the test thread).
    /// </summary>
    private void Fuzz(string name, int seedOffset, IReadOnlyList<byte[]> own, IReadOnlyList<byte[]> any, Func<string, object?> load, Action<object, string>? use)
    {
        PropertyRun run = PropertyRun.Start(TestContext, name, Cases, Seed + seedOffset);
        using var directory = new TemporaryDirectory();
        string path = directory.File("hostile.safetensors");
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        (double Share, long Bytes, long FileBytes) largest = (0, 0, 0);
        for (int i = 0; i < run.Cases; i++)
        {
            var random = new Random(run.CaseSeed(i));
            IReadOnlyList<byte[]> pool = random.Next(5) > 0 ? own : any;
            (byte[] file, string what) = SafetensorsMutator.Mutate(pool[random.Next(pool.Count)], random);
            File.WriteAllBytes(path, file);
            string context = $"{run.Describe(i)}: {what}";

            HostileFileProbe.Outcome outcome = HostileFileProbe.Run(() => load(path), s_timeBound);

            Assert.IsTrue(outcome.Completed, $"{context}: the load did not finish within {s_timeBound.TotalSeconds} s");
            Assert.IsLessThanOrEqualTo(AllocationBound(file.Length), outcome.AllocatedBytes, $"{context}: managed bytes allocated for a {file.Length}-byte file");
            double share = (double)outcome.AllocatedBytes / AllocationBound(file.Length);
            largest = share > largest.Share ? (share, outcome.AllocatedBytes, file.Length) : largest;
            if (outcome.Error is not null)
            {
                Assert.IsInstanceOfType<InvalidDataException>(outcome.Error, $"{context}: {outcome.Error}");
                Assert.Contains(path, outcome.Error.Message, $"{context}: the message names the file");
                Count(outcomes, Reason(outcome.Error.Message, path));
                continue;
            }
            Count(outcomes, "accepted");
            try
            {
                use?.Invoke(outcome.Result!, context);
            }
            finally
            {
                (outcome.Result as IDisposable)?.Dispose();
            }
        }
        TestContext.WriteLine($"largest allocation: {largest.Bytes} bytes for a {largest.FileBytes}-byte file, {largest.Share:P1} of its bound");
        TestContext.WriteLine("outcomes: " + string.Join("; ", outcomes.OrderByDescending(p => p.Value).Select(p => $"{p.Value}× {p.Key}")));
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

    /// <summary>
    /// A layer that loads must be accepted by the operator: one token routed to its first local expert, with at most
    /// 4 routes (a file may declare any top_k up to 2^31 - 1; the operator takes K from the routing tensors).
    /// </summary>
    private static void RunOneToken(object loaded, string context)
    {
        var layer = (MoeLayerData)loaded;
        MoeLayerConfig config = layer.Config;
        int topK = Math.Min(config.TopK ?? 1, 4);
        using var scope = NewDisposeScope();
        Tensor x = randn(1, config.Hidden).to(ScalarType.BFloat16);
        Tensor ids = full(new long[] { 1, topK }, config.LocalExpertOffset, ScalarType.Int32);
        Tensor weights = full(new long[] { 1, topK }, 1f / topK);
        Tensor output = B12xOps.FusedMoe(
            x, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf, ids, weights, config.NumExperts, topK,
            layer.W1Alpha, layer.W2Alpha, layer.CreateOptions(device: ComputeDevice.Cpu));
        CollectionAssert.AreEqual(new long[] { 1, config.Hidden }, output.shape, context);
    }

    private static void Count(Dictionary<string, int> outcomes, string key) => outcomes[key] = outcomes.GetValueOrDefault(key) + 1;

    /// <summary>The reason of a rejection without the file name and numbers, to count which checks the fuzzer reached.</summary>
    private static string Reason(string message, string path)
    {
        string reason = message.Replace(path, "").Split(": ", 2).Last();
        reason = Regex.Replace(reason, @"'[^']*'", "'…'");
        reason = Regex.Replace(reason, @"-?\d+", "N");
        return reason.Length <= 60 ? reason : reason[..60];
    }
}
