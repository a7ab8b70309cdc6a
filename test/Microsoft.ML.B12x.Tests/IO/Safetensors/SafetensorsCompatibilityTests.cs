using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Safetensors;

/// <summary>
/// Format compatibility in both directions, without trusting the library on either side: files built byte by byte
/// here are read by the library, and the library's files are decoded here by a separate minimal parser.
/// </summary>
[TestClass]
public sealed class SafetensorsCompatibilityTests
{
    [TestMethod]
    public void HandBuiltFileIsReadWithItsValuesAndMetadata()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("hand.safetensors");
        // The layout the reference writer produces: metadata, keys, offsets relative to the data section, space padding.
        const string Header =
            "{\"__metadata__\":{\"format\":\"pt\"}," +
            "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}," +
            "\"s\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[8,11]}," +
            "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]}}    ";
        byte[] data =
        [
            0x80, 0x3F, 0x00, 0xC0, 0x40, 0x40, 0x00, 0x00, // bf16 1.0, -2.0, 3.0, 0.0
            0x38, 0x7E, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // e4m3 1.0, 448, 2^-9; 5 unused bytes
            0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // int64 -2
        ];
        RawSafetensorsFile.Write(path, Header, data);

        using SafetensorsReader reader = SafetensorsReader.Open(path);
        using Tensor w = reader.ReadTensor("w");
        using Tensor wFloat = w.to(ScalarType.Float32);
        using Tensor ids = reader.ReadTensor("ids");

        Assert.AreEqual("pt", reader.Metadata["format"]);
        Assert.AreEqual(ScalarType.BFloat16, w.dtype);
        CollectionAssert.AreEqual(new[] { 1f, -2f, 3f, 0f }, wFloat.data<float>().ToArray());
        CollectionAssert.AreEqual(new byte[] { 0x38, 0x7E, 0x01 }, reader.GetBytes("s").ToArray());
        Assert.AreEqual(-2L, ids.item<long>());
    }

    [TestMethod]
    public void LibraryFileIsDecodedByAnIndependentParser()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("lib.safetensors");
        using Tensor f32 = tensor(new[] { 1.5f, -0.25f });
        using Tensor i32 = tensor(new[] { 7, -9, 11 });
        new SafetensorsWriter().AddMetadata("scale_layout", "linear").Add("f32", f32).Add("i32", i32).Save(path);

        byte[] file = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using JsonDocument header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, headerLength));
        int dataStart = 8 + headerLength;
        byte[] Slice(string name)
        {
            JsonElement offsets = header.RootElement.GetProperty(name).GetProperty("data_offsets");
            return file[(dataStart + offsets[0].GetInt32())..(dataStart + offsets[1].GetInt32())];
        }

        Assert.AreEqual("linear", header.RootElement.GetProperty("__metadata__").GetProperty("scale_layout").GetString());
        Assert.AreEqual("F32", header.RootElement.GetProperty("f32").GetProperty("dtype").GetString());
        Assert.AreEqual("[3]", header.RootElement.GetProperty("i32").GetProperty("shape").GetRawText());
        CollectionAssert.AreEqual(new[] { 1.5f, -0.25f }, Enumerable.Range(0, 2).Select(i => BitConverter.ToSingle(Slice("f32"), 4 * i)).ToArray());
        CollectionAssert.AreEqual(new[] { 7, -9, 11 }, Enumerable.Range(0, 3).Select(i => BitConverter.ToInt32(Slice("i32"), 4 * i)).ToArray());
        Assert.AreEqual(file.Length, dataStart + 20, "the data section holds exactly the tensors' bytes");
    }

    [TestMethod]
    public void GapsBetweenTensorsAreTolerated()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("gap.safetensors");
        RawSafetensorsFile.Write(path,
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}",
            [1, 2, 0, 0, 0, 0, 3, 4]);

        using SafetensorsReader reader = SafetensorsReader.Open(path);

        CollectionAssert.AreEqual(new byte[] { 3, 4 }, reader.GetBytes("b").ToArray());
    }
}
