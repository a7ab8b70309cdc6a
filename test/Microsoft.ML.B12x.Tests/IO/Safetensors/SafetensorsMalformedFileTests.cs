using System;
using System.IO;
using System.Text;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO.Safetensors;

[TestClass]
public sealed class SafetensorsMalformedFileTests
{
    private const string Good = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";

    [TestMethod]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],", "not valid JSON", DisplayName = "cut-off JSON")]
    [DataRow("[1, 2]", "must be a JSON object", DisplayName = "root is an array")]
    [DataRow("{\"t\":[0]}", "tensor 't': its entry must be an object", DisplayName = "entry is not an object")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", "tensor 't': missing key(s) data_offsets", DisplayName = "missing data_offsets")]
    [DataRow("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "tensor 't': missing key(s) dtype", DisplayName = "missing dtype")]
    [DataRow("{\"t\":{" + Good + ",\"offset\":3}}", "tensor 't': unknown key 'offset'", DisplayName = "unknown key")]
    [DataRow("{\"t\":{" + Good + ",\"dtype\":\"F32\"}}", "tensor 't': key 'dtype' appears twice", DisplayName = "key twice")]
    [DataRow("{\"t\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", "tensor 't': unknown dtype 'F128'", DisplayName = "unknown dtype")]
    [DataRow("{\"t\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype 'f32'", DisplayName = "dtype in lower case")]
    [DataRow("{\"t\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype must be a string", DisplayName = "dtype is a number")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape[0] must be a non-negative integer", DisplayName = "negative dimension")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", "shape[0] must be a non-negative integer", DisplayName = "fractional dimension")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,8]}}", "shape[0] must be a non-negative integer", DisplayName = "dimension above 2^63")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "shape must be an array", DisplayName = "shape not an array")]
    [DataRow("{\"t\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", "overflows 64 bits", DisplayName = "element count overflows")]
    [DataRow("{\"t\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", "byte size", DisplayName = "byte size overflows")]
    [DataRow("{\"t\":{\"dtype\":\"U8\",\"shape\":[0,4611686018427387904,4],\"data_offsets\":[0,0]}}", "strides of shape [0, 4611686018427387904, 4] overflow 64 bits", DisplayName = "empty tensor whose strides overflow")]
    [DataRow("{\"t\\ud800\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", "a string that is not valid UTF-16", DisplayName = "tensor name with a lone surrogate escape")]
    [DataRow("{\"__metadata__\":{\"k\":\"\\udc00\"},\"t\":{" + Good + "}}", "a string that is not valid UTF-16", DisplayName = "metadata value with a lone surrogate escape")]
    [DataRow("{\"t\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,8]}}", "whole number of bytes", DisplayName = "odd count of 4-bit elements")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "exactly [begin, end]", DisplayName = "one offset")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", "exactly [begin, end]", DisplayName = "three offsets")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", "data_offsets[1] must be a non-negative integer", DisplayName = "negative offset")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", "begin after they end", DisplayName = "begin after end")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "end beyond the data section of 8 bytes", DisplayName = "truncated data")]
    [DataRow("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "span 8 bytes but shape [3] of F32 needs 12", DisplayName = "length does not match shape")]
    [DataRow("{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", "span 8 bytes but shape [2] of BF16 needs 4", DisplayName = "length does not match dtype")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", "'a' (bytes [0, 8)) and 'b' (bytes [4, 8)) overlap", DisplayName = "overlapping tensors")]
    [DataRow("{\"t\":{" + Good + "},\"t\":{" + Good + "}}", "tensor 't' appears twice", DisplayName = "duplicate tensor name")]
    [DataRow("{\"__metadata__\":{\"k\":1},\"t\":{" + Good + "}}", "metadata 'k' must be a string; got a JSON Number (1)", DisplayName = "metadata value is a number")]
    [DataRow("{\"__metadata__\":{\"k\":null},\"t\":{" + Good + "}}", "metadata 'k' must be a string", DisplayName = "metadata value is null")]
    [DataRow("{\"__metadata__\":[\"k\"],\"t\":{" + Good + "}}", "'__metadata__' must be an object of strings", DisplayName = "metadata is an array")]
    [DataRow("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"},\"t\":{" + Good + "}}", "metadata 'k' appears twice", DisplayName = "metadata key twice")]
    [DataRow("{\"__metadata__\":{},\"__metadata__\":{},\"t\":{" + Good + "}}", "'__metadata__' twice", DisplayName = "metadata twice")]
    public void MalformedHeaderIsRejectedWithAClearMessage(string header, string expected)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("bad.safetensors");
        RawSafetensorsFile.Write(path, header, new byte[8]);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [TestMethod]
    public void EmptyFileIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("empty.safetensors");
        File.WriteAllBytes(path, []);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("holds 0 bytes", error.Message);
    }

    [TestMethod]
    public void FileShorterThanTheLengthPrefixIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("short.safetensors");
        File.WriteAllBytes(path, [2, 0, 0]);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("fewer than the 8-byte header length prefix", error.Message);
    }

    [TestMethod]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("long-header.safetensors");
        RawSafetensorsFile.Write(path, Encoding.UTF8.GetBytes("{}"), [], declaredHeaderLength: 1000);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("says 1000 bytes but only 2 bytes follow it", error.Message);
    }

    [TestMethod]
    public void HeaderLengthAboveTheCapIsRejectedBeforeAnyAllocation()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("huge-header.safetensors");
        RawSafetensorsFile.Write(path, Encoding.UTF8.GetBytes("{}"), [], declaredHeaderLength: 1UL << 62);

        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("above the limit of 100000000", error.Message);
        Assert.IsLessThan(1L << 20, allocated);
    }

    [TestMethod]
    public void TooShortHeaderLengthIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("tiny-header.safetensors");
        RawSafetensorsFile.Write(path, Encoding.UTF8.GetBytes("{"), []);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("needs at least 2", error.Message);
    }

    [TestMethod]
    public void NonUtf8HeaderIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("latin1.safetensors");
        byte[] latin1 = Encoding.Latin1.GetBytes("{\"t\u00e9\":{" + Good + "}}"); // é as the lone byte 0xE9, invalid in UTF-8
        RawSafetensorsFile.Write(path, latin1, new byte[8]);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("not valid UTF-8", error.Message);
    }

    [TestMethod]
    public void TensorClaimingTwoToTheSixtyElementsIsRejectedWithoutAllocatingIt()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("giant.safetensors");
        const long Elements = 1L << 60;
        RawSafetensorsFile.Write(path, $"{{\"giant\":{{\"dtype\":\"U8\",\"shape\":[{Elements}],\"data_offsets\":[0,{Elements}]}}}}", new byte[16]);

        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("tensor 'giant'", error.Message);
        Assert.Contains("end beyond the data section of 16 bytes", error.Message);
        Assert.IsLessThan(1L << 20, allocated);
    }

    [TestMethod]
    public void TruncatedFileIsRejectedNamingTheTensorThatNoLongerFits()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("cut.safetensors");
        RawSafetensorsFile.Write(path,
            "{\"first\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"second\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}",
            new byte[12]);

        InvalidDataException error = Assert.ThrowsExactly<InvalidDataException>(() => SafetensorsReader.Open(path).Dispose());

        Assert.Contains("tensor 'second'", error.Message);
        Assert.Contains("truncated file?", error.Message);
    }
}
