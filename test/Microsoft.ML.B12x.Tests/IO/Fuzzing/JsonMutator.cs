using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// Turns a valid JSON document (config.json, hf_quant_config.json, a shard index, a saved transformer's config)
/// into a hostile one: a member deleted or renamed, a value replaced by another type, an extreme number, a known
/// spelling in the wrong place, or nesting beyond any parser's depth; or the text cut, broken or emptied.
/// </summary>
internal static class JsonMutator
{
    private static readonly string[] s_values =
    [
        "null", "true", "false", "0", "-1", "1", "2", "7", "2147483647", "2147483648", "-2147483649", "9223372036854775808",
        "1e308", "-1e308", "1.5", "0.0", "\"\"", "\"x\"", "\"1\"", "\"nvfp4\"", "\"NVFP4\"", "\"fp4\"", "\"modelopt\"",
        "\"compressed-tensors\"", "\"silu\"", "\"relu2\"", "\"gelu\"", "\"float\"", "\"int\"", "\"tensor_group\"", "\"*\"",
        "[]", "[1]", "[\"*\"]", "{}", "{\"a\":1}",
    ];

    /// <summary>A mutated copy of <paramref name="json"/> and what was done to it.</summary>
    public static (byte[] Json, string What) Mutate(byte[] json, Random random)
    {
        string text = Encoding.UTF8.GetString(json);
        if (random.Next(5) == 0)
        {
            return EditText(text, random);
        }
        JsonNode root = JsonNode.Parse(text)!;
        List<(JsonNode Parent, string? Key, int Index)> slots = Slots(root);
        if (slots.Count == 0)
        {
            return EditText(text, random);
        }
        (JsonNode parent, string? key, int index) = slots[random.Next(slots.Count)];
        string where = key ?? $"[{index}]";
        string what;
        switch (random.Next(4))
        {
            case 0 when parent is JsonObject obj:
                obj.Remove(key!);
                what = $"deleted '{where}'";
                break;
            case 1 when parent is JsonObject obj:
            {
                JsonNode? value = obj[key!];
                obj.Remove(key!);
                string renamed = random.Next(2) == 0 ? key!.ToUpperInvariant() : key + "_";
                obj[renamed] = value;
                what = $"renamed '{where}' to '{renamed}'";
                break;
            }
            case 2:
            {
                string nested = new string('[', 200) + new string(']', 200);
                Set(parent, key, index, JsonNode.Parse(nested, documentOptions: new() { MaxDepth = 256 }));
                what = $"'{where}' nested 200 deep";
                break;
            }
            default:
            {
                string value = s_values[random.Next(s_values.Length)];
                Set(parent, key, index, JsonNode.Parse(value));
                what = $"'{where}' = {value}";
                break;
            }
        }
        return (Encoding.UTF8.GetBytes(root.ToJsonString()), what);
    }

    /// <summary>Every member and array element of the document, with its parent.</summary>
    private static List<(JsonNode Parent, string? Key, int Index)> Slots(JsonNode root)
    {
        var slots = new List<(JsonNode, string?, int)>();
        void Visit(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (KeyValuePair<string, JsonNode?> member in obj.ToList())
                    {
                        slots.Add((obj, member.Key, -1));
                        Visit(member.Value);
                    }
                    break;
                case JsonArray array:
                    for (int i = 0; i < array.Count; i++)
                    {
                        slots.Add((array, null, i));
                        Visit(array[i]);
                    }
                    break;
            }
        }
        Visit(root);
        return slots;
    }

    private static void Set(JsonNode parent, string? key, int index, JsonNode? value)
    {
        if (parent is JsonObject obj)
        {
            obj[key!] = value;
        }
        else
        {
            ((JsonArray)parent)[index] = value;
        }
    }

    private static (byte[] Json, string What) EditText(string text, Random random)
    {
        switch (random.Next(4))
        {
            case 0:
            {
                int keep = random.Next(text.Length);
                return (Encoding.UTF8.GetBytes(text[..keep]), $"cut to {keep} characters");
            }
            case 1:
            {
                string[] inserts = ["{", "}", "]", "\"", ",", ":", "\\", "\0", "\uFEFF", "/*", "\"\\ud800\""];
                string insert = inserts[random.Next(inserts.Length)];
                int at = random.Next(text.Length + 1);
                return (Encoding.UTF8.GetBytes(text.Insert(at, insert)), $"'{insert}' inserted at {at}");
            }
            case 2:
            {
                byte[] bytes = Encoding.UTF8.GetBytes(text);
                int at = random.Next(bytes.Length);
                bytes[at] = (byte)random.Next(256);
                return (bytes, $"byte {at} = 0x{bytes[at]:X2}");
            }
            default:
                return ([], "emptied");
        }
    }
}
