using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Concurrency;

/// <summary>Readers shared by threads ("reading from several threads is fine", <see cref="SafetensorsReader"/>) and files loaded by many threads at once.</summary>
[TestClass]
public sealed class FileReadingConcurrencyTests
{
    private const int Threads = 8;

    [TestMethod]
    public void OneReaderServesManyThreadsTheSameBytes()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using (var scope = NewDisposeScope())
        {
            LayerFile.Save(path, LayerFixtures.Layer(LayerFixtures.Config(experts: 4, hidden: 64, intermediate: 48), seed: 8));
        }
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        var expected = reader.Tensors.ToDictionary(t => t.Name, t => reader.GetBytes(t.Name).ToArray());
        var failures = new ConcurrentQueue<string>();

        Parallel.For(0, Threads * 16, new ParallelOptions { MaxDegreeOfParallelism = Threads }, i =>
        {
            SafetensorsTensorInfo info = reader.Tensors[i % reader.Tensors.Count];
            using Tensor read = reader.ReadTensor(info.Name);
            if (!TensorPointers.HostSpan<byte>(read).SequenceEqual(expected[info.Name]))
            {
                failures.Enqueue($"read {i}: '{info.Name}' differs");
            }
        });

        Assert.IsEmpty(failures, string.Join("; ", failures.Take(5)));
    }

    [TestMethod]
    public void ManyThreadsLoadingOneLayerFileGetTheSameTensors()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("layer.safetensors");
        using (var scope = NewDisposeScope())
        {
            LayerFile.Save(path, LayerFixtures.Layer(LayerFixtures.Config(ScaleLayout.Linear, experts: 3, hidden: 48, intermediate: 32), seed: 9));
        }
        byte[][] expected;
        using (MoeLayerData first = LayerFile.Load(path))
        {
            expected = Bytes(first);
        }
        var failures = new ConcurrentQueue<string>();

        Parallel.For(0, Threads * 4, new ParallelOptions { MaxDegreeOfParallelism = Threads }, i =>
        {
            using MoeLayerData layer = LayerFile.Load(path);
            byte[][] actual = Bytes(layer);
            for (int t = 0; t < expected.Length; t++)
            {
                if (!actual[t].SequenceEqual(expected[t]))
                {
                    failures.Enqueue($"load {i}: tensor {t} differs");
                }
            }
        });

        Assert.IsEmpty(failures, string.Join("; ", failures.Take(5)));
    }

    private static byte[][] Bytes(MoeLayerData layer) =>
        new[] { layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf, layer.W1Alpha, layer.W2Alpha, layer.Fc2InputScale!, layer.InputGlobalScale! }
            .Select(t => TensorPointers.HostSpan<byte>(t).ToArray())
            .ToArray();
}
