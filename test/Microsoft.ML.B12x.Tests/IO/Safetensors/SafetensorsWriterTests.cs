using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Safetensors;

[TestClass]
public sealed class SafetensorsWriterTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(7)]
    public void HeaderIsPaddedWithSpacesSoDataStartsOnAnEightByteBoundary(int nameLength)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        new SafetensorsWriter().Add(new string('n', nameLength), SafetensorsDtype.U8, [3], new byte[] { 1, 2, 3 }).Save(path);

        byte[] file = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = System.Text.Encoding.UTF8.GetString(file, 8, (int)headerLength);

        Assert.AreEqual(0, (8 + headerLength) % 8);
        Assert.AreEqual(header.TrimEnd(' ').Length + (int)(headerLength - header.TrimEnd(' ').Length), header.Length);
        Assert.IsTrue(header.TrimEnd(' ').EndsWith('}'), header);
        Assert.IsTrue(header[header.TrimEnd(' ').Length..].All(c => c == ' '), "padding must be spaces");
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, file[(int)(8 + headerLength)..]);
    }

    [TestMethod]
    public void SameContentGivesIdenticalFiles()
    {
        using var directory = new TemporaryDirectory();
        using Tensor a = arange(10, ScalarType.Float32), b = ones(2, 3, ScalarType.BFloat16);
        SafetensorsWriter Build() => new SafetensorsWriter().AddMetadata("k", "v").Add("a", a).Add("b", b);
        Build().Save(directory.File("1.safetensors"));
        Build().Save(directory.File("2.safetensors"));

        CollectionAssert.AreEqual(File.ReadAllBytes(directory.File("1.safetensors")), File.ReadAllBytes(directory.File("2.safetensors")));
    }

    [TestMethod]
    public void FailedSaveLeavesTheExistingFileAndNoTemporaryFile()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        File.WriteAllText(path, "previous content");
        Tensor disposed = ones(4);
        var writer = new SafetensorsWriter().Add("first", SafetensorsDtype.U8, [2], new byte[] { 1, 2 }).Add("gone", disposed);
        disposed.Dispose();

        Assert.ThrowsExactly<ArgumentException>(() => writer.Save(path));

        Assert.AreEqual("previous content", File.ReadAllText(path));
        CollectionAssert.AreEqual(new[] { "t.safetensors" }, Directory.GetFiles(directory.Path).Select(Path.GetFileName).ToArray());
    }

    [TestMethod]
    public void DuplicateTensorNameIsRejected()
    {
        using Tensor a = ones(1);
        var writer = new SafetensorsWriter().Add("a", a);

        var error = Assert.ThrowsExactly<ArgumentException>(() => writer.Add("a", a));

        Assert.Contains("'a' was already added", error.Message);
    }

    [TestMethod]
    public void MetadataKeyCannotNameATensor()
    {
        using Tensor a = ones(1);

        var error = Assert.ThrowsExactly<ArgumentException>(() => new SafetensorsWriter().Add("__metadata__", a));

        Assert.Contains("reserved for metadata", error.Message);
    }

    [TestMethod]
    public void RawBytesMustMatchShapeAndDtype()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => new SafetensorsWriter().Add("r", SafetensorsDtype.F32, [3], new byte[8]));

        Assert.Contains("needs 12 bytes; got 8", error.Message);
    }

    [TestMethod]
    public void DtypeOverrideMustKeepTheElementWidth()
    {
        using Tensor a = ones(2, ScalarType.Float32);

        var error = Assert.ThrowsExactly<ArgumentException>(() => new SafetensorsWriter().Add("a", a, SafetensorsDtype.F8E4M3));

        Assert.Contains("element widths differ", error.Message);
    }

    [TestMethod]
    public void UnsupportedTensorDtypeIsRejected()
    {
        using Tensor a = ones(2, ScalarType.Float64);

        var error = Assert.ThrowsExactly<NotSupportedException>(() => new SafetensorsWriter().Add("a", a));

        Assert.Contains("Float64", error.Message);
    }

    [TestMethod]
    public void ProgressReportsEveryDataByte()
    {
        using var directory = new TemporaryDirectory();
        using Tensor a = ones(1000, ScalarType.Float32);
        var writer = new SafetensorsWriter().Add("a", a).Add("b", SafetensorsDtype.U8, [5], new byte[5]);
        long last = -1;

        writer.Save(directory.File("t.safetensors"), new SynchronousProgress(value => last = value));

        Assert.AreEqual(4005L, writer.DataBytes);
        Assert.AreEqual(4005L, last);
    }

    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
