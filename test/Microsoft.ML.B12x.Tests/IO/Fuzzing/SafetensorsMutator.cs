using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// Turns a valid safetensors file into a hostile one: one to three structural edits of the header (entries and
/// fields deleted, duplicated, renamed or added; dtypes, shapes (huge, zero-sized, overflowing), data_offsets and
/// metadata values rewritten; tensors swapped or overlapped; the root replaced or nested too deep; scalar data made
/// NaN or negative) and/or one edit of the raw bytes (the length prefix, flipped bits and bytes, the JSON text cut or
/// broken, the file truncated or extended). Every edit is described, so a failure says what the file was.
/// </summary>
internal static class SafetensorsMutator
{
    private static readonly string[] s_dtypes =
    [
        "BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2", "F8_E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "I64", "U64",
        "F64", "C64", "F4", "F6_E2M3", "F6_E3M2",
    ];

    private static readonly string[] s_badDtypeValues = ["\"u8\"", "\"F128\"", "\"\"", "\" U8\"", "\"F8_E4M3FN\"", "5", "null", "true", "[\"U8\"]", "{}"];

    private static readonly string[] s_hugeDimensions =
    [
        "2147483647", "2147483648", "4294967296", "1073741824", "4611686018427387904", "9223372036854775807",
    ];

    private static readonly string[] s_badNumbers = ["-1", "1.5", "1e3", "\"3\"", "null", "9223372036854775808", "1e30", "[]", "-0", "true"];

    private static readonly string[] s_metadataValues =
    [
        "silu", "relu2", "SiLU", "gelu", "nvfp4", "w4a16", "w4a4", "fp4", "bf16", "int4", "modelopt", "compressed_tensors",
        "swizzled128x4", "linear", "Linear", "", " ", "0", "1", "2", "3", "5", "8", "-1", "+3", " 3", "3 ", "0x10", "1e3",
        "2147483647", "2147483648", "99999999999999999999", "٣", "\u0000",
    ];

    private static readonly string[] s_metadataKeys =
    [
        "activation", "quant_mode", "source_format", "scale_layout", "num_experts", "top_k", "num_local_experts",
        "local_expert_offset", "format",
    ];

    /// <summary>A mutated copy of <paramref name="file"/> and what was done to it.</summary>
    public static (byte[] File, string What) Mutate(byte[] file, Random random)
    {
        var what = new List<string>();
        byte[] result = file;
        int mode = random.Next(10);
        if (mode < 7)
        {
            EditableSafetensors editable = EditableSafetensors.Parse(file);
            int edits = random.Next(1, 4);
            for (int i = 0; i < edits; i++)
            {
                what.Add(EditHeader(editable, random));
            }
            result = editable.ToBytes();
        }
        if (mode >= 5)
        {
            (result, string edit) = EditBytes(result, random);
            what.Add(edit);
        }
        return (result, string.Join("; ", what));
    }

    private static string EditHeader(EditableSafetensors file, Random random)
    {
        if (file.Entries.Count == 0)
        {
            file.Entries.Add(new("t", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", null));
            return "an entry added to the empty header";
        }
        List<EditableSafetensors.Entry> tensors = file.Tensors;
        EditableSafetensors.Entry? tensor = tensors.Count == 0 ? null : tensors[random.Next(tensors.Count)];
        EditableSafetensors.Entry? metadata = file.Entries.FirstOrDefault(e => e.Key == "__metadata__");
        switch (random.Next(16))
        {
            case 0:
            {
                int index = random.Next(file.Entries.Count);
                string key = file.Entries[index].Key;
                file.Entries.RemoveAt(index);
                return $"deleted '{key}'";
            }
            case 1:
            {
                EditableSafetensors.Entry copy = file.Entries[random.Next(file.Entries.Count)].Clone();
                if (random.Next(2) == 0 && tensor is not null)
                {
                    copy.Fields = tensor.Fields?.Select(f => f.Clone()).ToList();
                }
                file.Entries.Insert(random.Next(file.Entries.Count + 1), copy);
                return $"duplicated '{copy.Key}'";
            }
            case 2:
            {
                EditableSafetensors.Entry entry = file.Entries[random.Next(file.Entries.Count)];
                string old = entry.Key;
                entry.Key = random.Next(7) switch
                {
                    0 => old.ToUpperInvariant(),
                    1 => "",
                    2 => "__metadata__",
                    3 => file.Entries[random.Next(file.Entries.Count)].Key,
                    4 => new string('n', 10_000),
                    5 => "\\u0000" + old,
                    _ => "\\ud800" + old, // a lone surrogate escape
                };
                return $"renamed '{Short(old)}' to '{Short(entry.Key)}'";
            }
            case 3 when tensor is not null && tensor.Fields!.Count > 0:
            {
                int index = random.Next(tensor.Fields.Count);
                string field = tensor.Fields[index].Key;
                tensor.Fields.RemoveAt(index);
                return $"deleted {tensor.Key}.{field}";
            }
            case 4 when tensor is not null && tensor.Fields!.Count > 0:
            {
                EditableSafetensors.Entry field = tensor.Fields[random.Next(tensor.Fields.Count)].Clone();
                tensor.Fields.Add(field);
                return $"duplicated {tensor.Key}.{field.Key}";
            }
            case 5 when tensor is not null:
                tensor.Fields!.Insert(random.Next(tensor.Fields.Count + 1), new("offset", "0", null));
                return $"added {tensor.Key}.offset";
            case 6 when tensor is not null:
            {
                string dtype = random.Next(3) > 0 ? $"\"{s_dtypes[random.Next(s_dtypes.Length)]}\"" : s_badDtypeValues[random.Next(s_badDtypeValues.Length)];
                SetField(tensor, "dtype", dtype);
                if (random.Next(2) == 0)
                {
                    FitOffsets(tensor, file, random);
                }
                return $"{tensor.Key}.dtype = {dtype}";
            }
            case 7 when tensor is not null:
            {
                string shape = Shape(tensor, random);
                SetField(tensor, "shape", shape);
                if (random.Next(3) > 0)
                {
                    FitOffsets(tensor, file, random);
                }
                return $"{tensor.Key}.shape = {Short(shape)} (offsets {tensor.Field("data_offsets")})";
            }
            case 8 when tensor is not null:
            {
                string offsets = Offsets(tensor, file, random);
                SetField(tensor, "data_offsets", offsets);
                return $"{tensor.Key}.data_offsets = {offsets}";
            }
            case 9 when metadata?.Fields is not null:
            {
                string key = random.Next(4) > 0 ? s_metadataKeys[random.Next(s_metadataKeys.Length)] : "extra";
                metadata.Fields.RemoveAll(f => f.Key == key);
                if (random.Next(5) == 0)
                {
                    return $"metadata '{key}' removed";
                }
                string value = random.Next(8) > 0
                    ? $"\"{EditableSafetensors.Escape(s_metadataValues[random.Next(s_metadataValues.Length)])}\""
                    : s_badNumbers[random.Next(s_badNumbers.Length)];
                metadata.Fields.Add(new(key, value, null));
                return $"metadata '{key}' = {value}";
            }
            case 10 when metadata is not null:
                metadata.Fields = null;
                metadata.Value = random.Next(3) switch { 0 => "[]", 1 => "\"x\"", _ => "null" };
                return $"metadata = {metadata.Value}";
            case 11 when tensors.Count >= 2:
            {
                EditableSafetensors.Entry a = tensors[random.Next(tensors.Count)], b = tensors[random.Next(tensors.Count)];
                (a.Fields, b.Fields) = (b.Fields, a.Fields);
                return $"swapped the entries of '{a.Key}' and '{b.Key}'";
            }
            case 12 when tensors.Count >= 2:
            {
                EditableSafetensors.Entry a = tensors[random.Next(tensors.Count)], b = tensors[random.Next(tensors.Count)];
                string? offsets = b.Field("data_offsets");
                if (offsets is not null)
                {
                    SetField(a, "data_offsets", offsets);
                }
                return $"'{a.Key}' given the data_offsets of '{b.Key}'";
            }
            case 13:
            {
                string root = random.Next(4) switch
                {
                    0 => "[]",
                    1 => "\"safetensors\"",
                    2 => "17",
                    _ => new string('[', 64) + new string(']', 64),
                };
                file.Entries.Clear();
                file.Entries.Add(new("nested", root, null));
                return $"one entry whose value is {Short(root)}";
            }
            case 14 when tensor is not null:
            {
                string nested = new string('[', 40) + "1" + new string(']', 40);
                SetField(tensor, random.Next(2) == 0 ? "shape" : "data_offsets", nested);
                return $"{tensor.Key} field nested 40 deep";
            }
            case 15 when tensor is not null && tensor.Field("dtype") == "\"F32\"":
                return CorruptFloats(tensor, file, random);
        }
        return EditHeader(file, random); // the chosen edit did not apply to this file: choose again
    }

    /// <summary>A shape: mostly near the old one (±1, ×2, ÷2, a dimension added or dropped), sometimes huge, zero-sized or not a shape at all.</summary>
    private static string Shape(EditableSafetensors.Entry tensor, Random random)
    {
        List<string> dims = ParseArray(tensor.Field("shape") ?? "[]");
        switch (random.Next(6))
        {
            case 0:
                int axis = dims.Count == 0 ? -1 : random.Next(dims.Count);
                if (axis >= 0 && long.TryParse(dims[axis], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                {
                    long[] near = [value + 1, Math.Max(0, value - 1), value * 2, value / 2, 0];
                    dims[axis] = near[random.Next(near.Length)].ToString(CultureInfo.InvariantCulture);
                }
                break;
            case 1:
                dims.Insert(random.Next(dims.Count + 1), random.Next(2) == 0 ? "1" : "0");
                break;
            case 2:
                if (dims.Count > 0)
                {
                    dims.RemoveAt(random.Next(dims.Count));
                }
                break;
            case 3:
                // Huge dimensions, with a zero among them half of the time (no bytes, but sizes beyond any index type).
                for (int i = 0; i < dims.Count; i++)
                {
                    if (random.Next(2) == 0)
                    {
                        dims[i] = s_hugeDimensions[random.Next(s_hugeDimensions.Length)];
                    }
                }
                switch (random.Next(3))
                {
                    case 0 when dims.Count > 0:
                        dims[random.Next(dims.Count)] = "0";
                        break;
                    case 1:
                        dims.Insert(random.Next(dims.Count + 1), "0");
                        break;
                }
                break;
            case 4:
                if (dims.Count > 0)
                {
                    dims[random.Next(dims.Count)] = s_badNumbers[random.Next(s_badNumbers.Length)];
                }
                break;
            default:
                return random.Next(3) switch { 0 => "[]", 1 => "[0]", _ => "\"[2, 2]\"" };
        }
        return "[" + string.Join(",", dims) + "]";
    }

    /// <summary>data_offsets: shifted, swapped, past the end, huge, negative, or the wrong arity.</summary>
    private static string Offsets(EditableSafetensors.Entry tensor, EditableSafetensors file, Random random)
    {
        List<string> parts = ParseArray(tensor.Field("data_offsets") ?? "[0,0]");
        long begin = parts.Count > 0 && long.TryParse(parts[0], out long b) ? b : 0;
        long end = parts.Count > 1 && long.TryParse(parts[1], out long e) ? e : 0;
        long length = file.Data.Length;
        return random.Next(9) switch
        {
            0 => $"[{begin + 1},{end + 1}]",
            1 => $"[{end},{begin}]",
            2 => $"[{begin},{length + 1 + random.Next(64)}]",
            3 => $"[{length},{length + end - begin}]",
            4 => $"[{begin},{long.MaxValue}]",
            5 => $"[{-1 - random.Next(8)},{end}]",
            6 => $"[{begin}]",
            7 => $"[{begin},{end},{end}]",
            _ => $"[{begin},{s_badNumbers[random.Next(s_badNumbers.Length)]}]",
        };
    }

    /// <summary>Sets data_offsets to [begin, begin + the shape's byte size] when that size is computable, so shape edits reach the checks behind the size check.</summary>
    private static void FitOffsets(EditableSafetensors.Entry tensor, EditableSafetensors file, Random random)
    {
        string? dtype = tensor.Field("dtype")?.Trim('"');
        List<string> dims = ParseArray(tensor.Field("shape") ?? "[]");
        int bits = dtype switch
        {
            "F4" => 4,
            "F6_E2M3" or "F6_E3M2" => 6,
            "I16" or "U16" or "F16" or "BF16" => 16,
            "I32" or "U32" or "F32" => 32,
            "I64" or "U64" or "F64" or "C64" => 64,
            _ => 8,
        };
        Int128 elements = 1;
        foreach (string dim in dims)
        {
            if (!long.TryParse(dim, NumberStyles.None, CultureInfo.InvariantCulture, out long d))
            {
                return;
            }
            elements *= d;
            if (elements > long.MaxValue)
            {
                return;
            }
        }
        Int128 bytes = elements * bits / 8;
        long begin = random.Next(2) == 0 ? 0 : file.Data.Length;
        if (begin + bytes <= long.MaxValue)
        {
            SetField(tensor, "data_offsets", $"[{begin},{(long)(begin + bytes)}]");
        }
    }

    private static string CorruptFloats(EditableSafetensors.Entry tensor, EditableSafetensors file, Random random)
    {
        List<string> parts = ParseArray(tensor.Field("data_offsets") ?? "[]");
        if (parts.Count != 2 || !int.TryParse(parts[0], out int begin) || !int.TryParse(parts[1], out int end) ||
            begin < 0 || end > file.Data.Length || end - begin < 4)
        {
            return $"{tensor.Key}: no float data to corrupt";
        }
        float[] values = [float.NaN, float.PositiveInfinity, 0f, -1f, -0f, 1e-45f];
        float value = values[random.Next(values.Length)];
        int at = begin + 4 * random.Next((end - begin) / 4);
        BinaryPrimitives.WriteSingleLittleEndian(file.Data.AsSpan(at), value);
        return $"{tensor.Key} element at byte {at - begin} = {value}";
    }

    private static (byte[] File, string What) EditBytes(byte[] file, Random random)
    {
        byte[] copy = (byte[])file.Clone();
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        int headerEnd = (int)Math.Min(file.Length, 8 + headerLength);
        switch (random.Next(9))
        {
            case 0:
            {
                ulong[] lengths =
                [
                    0, 1, 2, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)headerLength + 8, (ulong)file.Length,
                    (ulong)file.Length - 8, 1UL << 31, 1UL << 32, 1UL << 63, ulong.MaxValue, 100_000_000, 100_000_001,
                    (ulong)random.NextInt64(),
                ];
                ulong length = lengths[random.Next(lengths.Length)];
                BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
                return (copy, $"length prefix = {length}");
            }
            case 1:
            {
                int flips = random.Next(1, 5);
                for (int i = 0; i < flips && headerEnd > 8; i++)
                {
                    copy[random.Next(8, headerEnd)] ^= (byte)(1 << random.Next(8));
                }
                return (copy, $"{flips} bits flipped in the header");
            }
            case 2:
            {
                int at = random.Next(copy.Length);
                copy[at] = (byte)random.Next(256);
                return (copy, $"byte {at} = 0x{copy[at]:X2}");
            }
            case 3:
            {
                int keep = random.Next(copy.Length);
                return (copy[..keep], $"truncated to {keep} of {file.Length} bytes");
            }
            case 4:
            {
                int cut = random.Next(1, 64);
                return (copy[..Math.Max(headerEnd, copy.Length - cut)], $"data section cut by {cut} bytes");
            }
            case 5:
            {
                var extra = new byte[random.Next(1, 256)];
                random.NextBytes(extra);
                return ([.. copy, .. extra], $"{extra.Length} random bytes appended");
            }
            case 6:
            {
                string header = Encoding.UTF8.GetString(file, 8, headerEnd - 8).TrimEnd();
                int keep = random.Next(header.Length);
                return (EditableSafetensors.Assemble(Encoding.UTF8.GetBytes(header[..keep]), file[headerEnd..]), $"header text cut to {keep} characters");
            }
            case 7:
            {
                string header = Encoding.UTF8.GetString(file, 8, headerEnd - 8);
                string[] inserts = ["{", "}", "[", "]", "\"", ":", ",", "\\", "\0", "\uFEFF", "é", "\n", "//"];
                string insert = inserts[random.Next(inserts.Length)];
                int at = random.Next(header.Length + 1);
                return (EditableSafetensors.Assemble(Encoding.UTF8.GetBytes(header.Insert(at, insert)), file[headerEnd..]), $"'{Short(insert)}' inserted in the header at {at}");
            }
            default:
            {
                // Padding other than spaces after the JSON, inside the declared header length.
                string header = Encoding.UTF8.GetString(file, 8, headerEnd - 8).TrimEnd();
                string[] tails = ["\0\0\0\0", "\t\n\r ", "{}", "x", "\u00A0"];
                string tail = tails[random.Next(tails.Length)];
                return (EditableSafetensors.Assemble(Encoding.UTF8.GetBytes(header + tail), file[headerEnd..]), $"'{Short(tail)}' after the JSON");
            }
        }
    }

    private static void SetField(EditableSafetensors.Entry tensor, string name, string value)
    {
        tensor.Fields ??= [];
        EditableSafetensors.Entry? field = tensor.Fields.FirstOrDefault(f => f.Key == name);
        if (field is null)
        {
            tensor.Fields.Add(new(name, value, null));
        }
        else
        {
            field.Value = value;
        }
    }

    /// <summary>The elements of a flat JSON array as raw text (nested arrays are not split).</summary>
    private static List<string> ParseArray(string json)
    {
        string inner = json.Trim();
        if (!inner.StartsWith('[') || !inner.EndsWith(']') || inner[1..^1].Contains('['))
        {
            return [];
        }
        return inner[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
    }

    private static string Short(string text) => text.Length <= 40 ? text.Replace("\0", "\\0") : text[..40] + "…";
}
