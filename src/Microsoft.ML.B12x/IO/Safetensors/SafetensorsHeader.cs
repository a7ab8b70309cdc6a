using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Unicode;

namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>
/// The parsed and validated header of a safetensors file: an 8-byte little-endian length n, n bytes of UTF-8 JSON
/// <c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}</c>, then the data
/// section, to which the offsets are relative. Every rule the format states is checked, with checked arithmetic, so
/// that no later read can leave the file or allocate more than the file holds.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>Bytes of the length prefix.</summary>
    public const int PrefixBytes = 8;

    /// <summary>
    /// Largest header accepted: 100 MB, the limit of the reference implementation (huggingface/safetensors,
    /// <c>MAX_HEADER_SIZE</c>); real headers of 100k-tensor checkpoints stay below 20 MB.
    /// </summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The key of the optional string→string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    private SafetensorsHeader(IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads the header length from the first 8 bytes and checks it against the file size and the cap.</summary>
    public static long ReadLength(ReadOnlySpan<byte> prefix, long fileLength, string file)
    {
        if (fileLength < PrefixBytes)
        {
            throw Malformed(file, $"the file holds {fileLength} bytes, fewer than the 8-byte header length prefix (empty or truncated file)");
        }
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > MaxHeaderBytes)
        {
            throw Malformed(file, $"the header length prefix says {length} bytes, above the limit of {MaxHeaderBytes} (not a safetensors file?)");
        }
        if ((long)length > fileLength - PrefixBytes)
        {
            throw Malformed(file, $"the header length prefix says {length} bytes but only {fileLength - PrefixBytes} bytes follow it (truncated file?)");
        }
        if (length < 2)
        {
            throw Malformed(file, $"the header length prefix says {length} bytes; a JSON object needs at least 2");
        }
        return (long)length;
    }

    /// <summary>Parses and validates the header JSON against a data section of <paramref name="dataLength"/> bytes.</summary>
    /// <exception cref="InvalidDataException">Anything that is not a well-formed safetensors header for this data.</exception>
    public static SafetensorsHeader Parse(byte[] json, long dataLength, string file)
    {
        if (!Utf8.IsValid(json))
        {
            throw Malformed(file, "the header is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Malformed(file, $"the header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Malformed(file, $"the header must be a JSON object; got a JSON {root.ValueKind}");
            }
            var tensors = new List<SafetensorsTensorInfo>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            Dictionary<string, string>? metadata = null;
            try
            {
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    if (property.Name == MetadataKey)
                    {
                        if (metadata is not null)
                        {
                            throw Malformed(file, $"the header holds '{MetadataKey}' twice");
                        }
                        metadata = ParseMetadata(property.Value, file);
                        continue;
                    }
                    if (!names.Add(property.Name))
                    {
                        throw Malformed(file, $"tensor '{property.Name}' appears twice in the header");
                    }
                    tensors.Add(ParseTensor(property.Name, property.Value, dataLength, file));
                }
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument validates escapes only when a string is read: "\ud800" alone is valid JSON syntax
                // but no UTF-16 string.
                throw Malformed(file, $"the header holds a string that is not valid UTF-16 ({e.Message})");
            }
            CheckNoOverlap(tensors, file);
            return new SafetensorsHeader(tensors, metadata ?? new Dictionary<string, string>(StringComparer.Ordinal));
        }
    }

    /// <summary>The exception for a malformed file: "FILE: is not a valid safetensors file: WHAT".</summary>
    public static InvalidDataException Malformed(string file, string what) =>
        new($"{file} is not a valid safetensors file: {what}.");

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(file, $"'{MetadataKey}' must be an object of strings; got a JSON {value.ValueKind}");
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw Malformed(file, $"metadata '{entry.Name}' must be a string; got a JSON {entry.Value.ValueKind} ({Abbreviate(entry.Value.GetRawText())})");
            }
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw Malformed(file, $"metadata '{entry.Name}' appears twice");
            }
        }
        return metadata;
    }

    private static SafetensorsTensorInfo ParseTensor(string name, JsonElement entry, long dataLength, string file)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw MalformedTensor(file, name, $"its entry must be an object with dtype, shape and data_offsets; got a JSON {entry.ValueKind}");
        }
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (JsonProperty field in entry.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype":
                    dtypeElement = Once(dtypeElement, field, file, name);
                    break;
                case "shape":
                    shapeElement = Once(shapeElement, field, file, name);
                    break;
                case "data_offsets":
                    offsetsElement = Once(offsetsElement, field, file, name);
                    break;
                default:
                    throw MalformedTensor(file, name, $"unknown key '{field.Name}' (expected dtype, shape, data_offsets)");
            }
        }
        if (dtypeElement is null || shapeElement is null || offsetsElement is null)
        {
            string missing = string.Join(", ", new[] { ("dtype", dtypeElement), ("shape", shapeElement), ("data_offsets", offsetsElement) }
                .Where(f => f.Item2 is null).Select(f => f.Item1));
            throw MalformedTensor(file, name, $"missing key(s) {missing}");
        }

        SafetensorsDtype dtype = ParseDtype(name, dtypeElement.Value, file);
        long[] shape = ParseIntegers(name, "shape", shapeElement.Value, file);
        long elements = 1;
        try
        {
            foreach (long dimension in shape)
            {
                elements = checked(elements * dimension);
            }
        }
        catch (OverflowException)
        {
            throw MalformedTensor(file, name, $"the element count of shape [{string.Join(", ", shape)}] overflows 64 bits");
        }
        long stride = 1;
        try
        {
            // Row-major strides, in which a zero dimension counts as 1: a tensor with no elements can claim sizes
            // whose strides no 64-bit index reaches, and LibTorch refuses to create it.
            for (int i = shape.Length - 1; i > 0; i--)
            {
                stride = checked(stride * Math.Max(shape[i], 1));
            }
        }
        catch (OverflowException)
        {
            throw MalformedTensor(file, name, $"the row-major strides of shape [{string.Join(", ", shape)}] overflow 64 bits");
        }
        Int128 bits = (Int128)elements * SafetensorsDtypes.BitSize(dtype);
        if (bits % 8 != 0)
        {
            throw MalformedTensor(file, name, $"{elements} {SafetensorsDtypes.ToName(dtype)} elements do not fill a whole number of bytes");
        }
        if (bits / 8 > long.MaxValue)
        {
            throw MalformedTensor(file, name, $"the byte size of {elements} {SafetensorsDtypes.ToName(dtype)} elements overflows 64 bits");
        }
        long expectedBytes = (long)(bits / 8);

        long[] offsets = ParseIntegers(name, "data_offsets", offsetsElement.Value, file);
        if (offsets.Length != 2)
        {
            throw MalformedTensor(file, name, $"data_offsets must hold exactly [begin, end]; got {offsets.Length} values");
        }
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
        {
            throw MalformedTensor(file, name, $"data_offsets [{begin}, {end}] begin after they end");
        }
        if (end > dataLength)
        {
            throw MalformedTensor(file, name, $"data_offsets [{begin}, {end}] end beyond the data section of {dataLength} bytes (truncated file?)");
        }
        if (end - begin != expectedBytes)
        {
            throw MalformedTensor(file, name,
                $"data_offsets [{begin}, {end}] span {end - begin} bytes but shape [{string.Join(", ", shape)}] of {SafetensorsDtypes.ToName(dtype)} needs {expectedBytes}");
        }
        return new SafetensorsTensorInfo(name, dtype, shape, begin, expectedBytes);
    }

    private static JsonElement Once(JsonElement? seen, JsonProperty field, string file, string name) =>
        seen is null ? field.Value : throw MalformedTensor(file, name, $"key '{field.Name}' appears twice");

    private static SafetensorsDtype ParseDtype(string name, JsonElement element, string file)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            throw MalformedTensor(file, name, $"dtype must be a string; got a JSON {element.ValueKind}");
        }
        string text = element.GetString()!;
        if (!SafetensorsDtypes.TryParse(text, out SafetensorsDtype dtype))
        {
            string known = string.Join(", ", Enum.GetValues<SafetensorsDtype>().Select(SafetensorsDtypes.ToName));
            throw MalformedTensor(file, name, $"unknown dtype '{Abbreviate(text)}' (known: {known})");
        }
        return dtype;
    }

    private static long[] ParseIntegers(string name, string key, JsonElement element, string file)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            throw MalformedTensor(file, name, $"{key} must be an array of non-negative integers; got a JSON {element.ValueKind}");
        }
        var values = new long[element.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
            {
                throw MalformedTensor(file, name,
                    $"{key}[{i}] must be a non-negative integer below 2^63; got {Abbreviate(item.GetRawText())}");
            }
            values[i++] = value;
        }
        return values;
    }

    private static void CheckNoOverlap(List<SafetensorsTensorInfo> tensors, string file)
    {
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo tensor in tensors
            .Where(t => t.ByteLength > 0)
            .OrderBy(t => t.DataOffset))
        {
            if (previous is not null && tensor.DataOffset < previous.DataOffset + previous.ByteLength)
            {
                throw Malformed(file,
                    $"tensors '{previous.Name}' (bytes [{previous.DataOffset}, {previous.DataOffset + previous.ByteLength})) and " +
                    $"'{tensor.Name}' (bytes [{tensor.DataOffset}, {tensor.DataOffset + tensor.ByteLength})) overlap");
            }
            previous = tensor;
        }
    }

    private static InvalidDataException MalformedTensor(string file, string name, string what) =>
        Malformed(file, $"tensor '{Abbreviate(name)}': {what}");

    /// <summary>Keeps messages one readable line when a file holds a huge or binary string.</summary>
    private static string Abbreviate(string text)
    {
        const int MaxChars = 80;
        string line = text.ReplaceLineEndings(" ");
        return line.Length <= MaxChars ? line : line[..MaxChars] + "…";
    }
}
