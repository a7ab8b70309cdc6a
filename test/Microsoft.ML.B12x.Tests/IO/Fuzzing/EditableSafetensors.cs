using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// A safetensors file opened for editing as text: the header's top-level entries and each tensor entry's fields are
/// ordered lists of (key, raw JSON value), so mutations can delete, duplicate, rename and rewrite them, including into
/// JSON that no serializer would produce (duplicate keys, raw escapes). Parsed with JsonDocument, written by hand.
/// </summary>
internal sealed class EditableSafetensors
{
    private EditableSafetensors(List<Entry> entries, byte[] data)
    {
        Entries = entries;
        Data = data;
    }

    /// <summary>One key of an object, its value as raw JSON text, and (for objects) its fields in the same form.</summary>
    public sealed class Entry
    {
        public Entry(string key, string value, List<Entry>? fields)
        {
            Key = key;
            Value = value;
            Fields = fields;
        }

        /// <summary>The key as JSON string content (already escaped).</summary>
        public string Key { get; set; }

        /// <summary>Raw JSON of the value; ignored when <see cref="Fields"/> is set.</summary>
        public string Value { get; set; }

        /// <summary>The fields of an object value (tensor entries and <c>__metadata__</c>), else null.</summary>
        public List<Entry>? Fields { get; set; }

        public Entry Clone() => new(Key, Value, Fields?.Select(f => f.Clone()).ToList());

        public string ToJson() =>
            $"\"{Key}\":" + (Fields is null ? Value : "{" + string.Join(",", Fields.Select(f => f.ToJson())) + "}");

        /// <summary>The raw value of field <paramref name="name"/>, or null.</summary>
        public string? Field(string name) => Fields?.FirstOrDefault(f => f.Key == name)?.Value;
    }

    /// <summary>The header's top-level entries in file order.</summary>
    public List<Entry> Entries { get; }

    /// <summary>The data section.</summary>
    public byte[] Data { get; set; }

    /// <summary>Splits a well-formed file into its header entries and data.</summary>
    public static EditableSafetensors Parse(byte[] file)
    {
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using JsonDocument document = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        var entries = new List<Entry>();
        foreach (JsonProperty property in document.RootElement.EnumerateObject())
        {
            List<Entry>? fields = property.Value.ValueKind == JsonValueKind.Object
                ? property.Value.EnumerateObject().Select(f => new Entry(Escape(f.Name), f.Value.GetRawText(), null)).ToList()
                : null;
            entries.Add(new Entry(Escape(property.Name), property.Value.GetRawText(), fields));
        }
        return new EditableSafetensors(entries, file.AsSpan(8 + (int)headerLength).ToArray());
    }

    public EditableSafetensors Clone() => new(Entries.Select(e => e.Clone()).ToList(), (byte[])Data.Clone());

    /// <summary>The tensor entries (every top-level entry but <c>__metadata__</c> whose value is an object).</summary>
    public List<Entry> Tensors => Entries.Where(e => e.Key != "__metadata__" && e.Fields is not null).ToList();

    /// <summary>The header text: "{" entries "}".</summary>
    public string HeaderText() => "{" + string.Join(",", Entries.Select(e => e.ToJson())) + "}";

    /// <summary>The file: the 8-byte length prefix, the header (space-padded to 8 bytes), the data.</summary>
    public byte[] ToBytes() => Assemble(Encoding.UTF8.GetBytes(HeaderText()), Data);

    /// <summary>Prefix + header + data; the header is padded with spaces so the data starts at a multiple of 8.</summary>
    public static byte[] Assemble(byte[] header, byte[] data)
    {
        int padded = (header.Length + 7) / 8 * 8;
        var file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(file, 8 + padded);
        return file;
    }

    /// <summary>JSON string content for <paramref name="text"/> (quotes not included).</summary>
    public static string Escape(string text)
    {
        string quoted = JsonSerializer.Serialize(text);
        return quoted[1..^1];
    }
}
