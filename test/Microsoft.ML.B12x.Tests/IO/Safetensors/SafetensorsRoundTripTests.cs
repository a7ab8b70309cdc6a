using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Safetensors;

[TestClass]
public sealed class SafetensorsRoundTripTests
{
    private const ScalarType Float8E4M3 = (ScalarType)24;

    [TestMethod]
    [DataRow(ScalarType.Byte, SafetensorsDtype.U8)]
    [DataRow(ScalarType.BFloat16, SafetensorsDtype.BF16)]
    [DataRow(ScalarType.Float16, SafetensorsDtype.F16)]
    [DataRow(ScalarType.Float32, SafetensorsDtype.F32)]
    [DataRow(ScalarType.Int32, SafetensorsDtype.I32)]
    [DataRow(ScalarType.Int64, SafetensorsDtype.I64)]
    public void TensorOfEachReadableDtypeRoundTripsBitForBit(ScalarType type, SafetensorsDtype expected)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor original = Distinct(type, 3, 5);
        new SafetensorsWriter().Add("t", original).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor read = reader.ReadTensor("t");

        Assert.AreEqual(expected, reader.Get("t").Dtype);
        Assert.AreEqual(type, read.dtype);
        CollectionAssert.AreEqual(new long[] { 3, 5 }, read.shape);
        CollectionAssert.AreEqual(
            TensorPointers.HostSpan<byte>(original).ToArray(), TensorPointers.HostSpan<byte>(read).ToArray(), $"{type} bits changed");
    }

    [TestMethod]
    public void ByteTensorWrittenAsE4M3IsReadBackAsItsRawBits()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("scales.safetensors");
        using Tensor bits = tensor(new byte[] { 0x00, 0x01, 0x38, 0x7E, 0x7F, 0x80, 0xFE, 0xFF });
        new SafetensorsWriter().Add("s", bits, SafetensorsDtype.F8E4M3).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor read = reader.ReadTensor("s");

        Assert.AreEqual(SafetensorsDtype.F8E4M3, reader.Get("s").Dtype);
        Assert.AreEqual(ScalarType.Byte, read.dtype);
        CollectionAssert.AreEqual(bits.data<byte>().ToArray(), read.data<byte>().ToArray());
    }

    [TestMethod]
    public void Float8TensorIsWrittenAsE4M3()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("f8.safetensors");
        using Tensor float8 = empty(4, Float8E4M3);
        new byte[] { 0x08, 0x38, 0x7E, 0xB8 }.CopyTo(TensorPointers.HostSpanMutable<byte>(float8));
        new SafetensorsWriter().Add("s", float8).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);

        Assert.AreEqual(SafetensorsDtype.F8E4M3, reader.Get("s").Dtype);
        CollectionAssert.AreEqual(new byte[] { 0x08, 0x38, 0x7E, 0xB8 }, reader.GetBytes("s").ToArray());
    }

    [TestMethod]
    [DataRow(SafetensorsDtype.Bool, 6, 6)]
    [DataRow(SafetensorsDtype.I8, 6, 6)]
    [DataRow(SafetensorsDtype.F8E5M2, 6, 6)]
    [DataRow(SafetensorsDtype.F8E8M0, 6, 6)]
    [DataRow(SafetensorsDtype.I16, 6, 12)]
    [DataRow(SafetensorsDtype.U16, 6, 12)]
    [DataRow(SafetensorsDtype.U32, 6, 24)]
    [DataRow(SafetensorsDtype.U64, 6, 48)]
    [DataRow(SafetensorsDtype.F64, 6, 48)]
    [DataRow(SafetensorsDtype.C64, 6, 48)]
    [DataRow(SafetensorsDtype.F4, 6, 3)]
    [DataRow(SafetensorsDtype.F6E2M3, 4, 3)]
    [DataRow(SafetensorsDtype.F6E3M2, 4, 3)]
    public void RawBytesOfEveryOtherDtypeRoundTripAndAreRefusedAsTensors(SafetensorsDtype dtype, int elements, int bytes)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("raw.safetensors");
        byte[] data = Enumerable.Range(1, bytes).Select(i => (byte)(i * 37)).ToArray();
        new SafetensorsWriter().Add("r", dtype, [elements], data).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);

        Assert.AreEqual(dtype, reader.Get("r").Dtype);
        CollectionAssert.AreEqual(data, reader.GetBytes("r").ToArray());
        NotSupportedException error = Assert.ThrowsExactly<NotSupportedException>(() => reader.ReadTensor("r"));
        Assert.Contains($"dtype {SafetensorsDtypes.ToName(dtype)}", error.Message);
        Assert.Contains("'r'", error.Message);
    }

    [TestMethod]
    public void ScalarAndEmptyTensorsRoundTrip()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("edge.safetensors");
        using Tensor scalar = tensor(2.5f);
        using Tensor emptyRows = zeros(0, 4, ScalarType.BFloat16);
        new SafetensorsWriter().Add("scalar", scalar).Add("empty", emptyRows).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor readScalar = reader.ReadTensor("scalar");
        using Tensor readEmpty = reader.ReadTensor("empty");

        Assert.AreEqual(0, readScalar.dim());
        Assert.AreEqual(2.5f, readScalar.item<float>());
        CollectionAssert.AreEqual(new long[] { 0, 4 }, readEmpty.shape);
    }

    [TestMethod]
    public void NonContiguousTensorIsWrittenInLogicalOrder()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor matrix = arange(6, ScalarType.Int32).reshape(2, 3);
        using Tensor transposed = matrix.t();
        new SafetensorsWriter().Add("t", transposed).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor read = reader.ReadTensor("t");

        CollectionAssert.AreEqual(new[] { 0, 3, 1, 4, 2, 5 }, read.data<int>().ToArray());
    }

    [TestMethod]
    public void MetadataAndTensorOrderAreKept()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor a = ones(2), b = ones(3), c = ones(1);
        new SafetensorsWriter()
            .AddMetadata("zeta", "1").AddMetadata("alpha", "ü ∑ \"quoted\"")
            .Add("z", a).Add("b", b).Add("m", c)
            .Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);

        CollectionAssert.AreEqual(new[] { "z", "b", "m" }, reader.Tensors.Select(t => t.Name).ToArray());
        CollectionAssert.AreEqual(new long[] { 0, 8, 20 }, reader.Tensors.Select(t => t.DataOffset).ToArray());
        Assert.AreEqual("1", reader.Metadata["zeta"]);
        Assert.AreEqual("ü ∑ \"quoted\"", reader.Metadata["alpha"]);
    }

    [TestMethod]
    public void ReadTensorReadsOnlyTheTensorAskedFor()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor first = full(4, 1f), second = full(3, 2f);
        new SafetensorsWriter().Add("first", first).Add("second", second).Save(path);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor read = reader.ReadTensor("second");

        CollectionAssert.AreEqual(new[] { 2f, 2f, 2f }, read.data<float>().ToArray());
    }

    [TestMethod]
    public void MissingTensorNameIsReported()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor a = ones(2);
        new SafetensorsWriter().Add("a", a).Save(path);
        using SafetensorsReader reader = SafetensorsReader.Open(path);

        var error = Assert.ThrowsExactly<KeyNotFoundException>(() => reader.ReadTensor("b"));

        Assert.Contains("has no tensor named 'b'", error.Message);
    }

    [TestMethod]
    public void DisposedReaderRefusesToRead()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("t.safetensors");
        using Tensor a = ones(2);
        new SafetensorsWriter().Add("a", a).Save(path);
        SafetensorsReader reader = SafetensorsReader.Open(path);
        reader.Dispose();

        Assert.ThrowsExactly<ObjectDisposedException>(() => reader.ReadTensor("a"));
    }

    /// <summary>A [rows, columns] tensor whose elements all differ (within the dtype's range).</summary>
    private static Tensor Distinct(ScalarType type, int rows, int columns)
    {
        using Tensor values = arange(rows * columns, ScalarType.Float32).reshape(rows, columns);
        using Tensor spread = type is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16
            ? values.mul(-0.37f).add(0.125f)
            : values.mul(7).add(1);
        return spread.to(type);
    }
}
