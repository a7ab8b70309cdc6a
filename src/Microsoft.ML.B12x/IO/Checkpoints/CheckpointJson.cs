using System;
using System.Globalization;
using System.IO;
using System.Text.Json;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Reading the JSON files of a checkpoint directory (config.json, hf_quant_config.json, the shard index) with errors
/// that name the file and the key.
/// </summary>
internal static class CheckpointJson
{
    /// <summary>Parses <paramref name="path"/>; its root must be an object. The element is detached from the document.</summary>
    /// <exception cref="InvalidDataException">Not JSON, or not an object.</exception>
    public static JsonElement ReadObject(string path)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path),
                new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}: the top level is a JSON {document.RootElement.ValueKind}, not an object.");
            }
            DecodeEveryString(document.RootElement);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"{path} holds a JSON string that is not valid text: {e.Message}", e);
        }
    }

    /// <summary>
    /// Decodes every member name and string once. JsonDocument checks the UTF-8 inside strings and their escapes (a lone
    /// "\ud800") only when a string is read, with an InvalidOperationException; reading them all here turns a bad
    /// file into one InvalidDataException up front instead of a failure wherever a string is first used.
    /// </summary>
    private static void DecodeEveryString(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty member in element.EnumerateObject())
                {
                    _ = member.Name;
                    DecodeEveryString(member.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in element.EnumerateArray())
                {
                    DecodeEveryString(item);
                }
                break;
            case JsonValueKind.String:
                _ = element.GetString();
                break;
        }
    }

    /// <summary>The member <paramref name="key"/> of an object, or null when it is absent or JSON null.</summary>
    public static JsonElement? Member(JsonElement obj, string key) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out JsonElement value) && value.ValueKind != JsonValueKind.Null
            ? value
            : null;

    /// <summary>A string member, or null when absent.</summary>
    /// <exception cref="InvalidDataException">Present but not a string.</exception>
    public static string? String(JsonElement obj, string key, string file) => Member(obj, key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        JsonElement value => throw new InvalidDataException($"{file}: '{key}' must be a string; got {value.GetRawText()}."),
    };

    /// <summary>An integer member of at least <paramref name="minimum"/>, or null when absent.</summary>
    /// <exception cref="InvalidDataException">Present but not such an integer.</exception>
    public static int? Integer(JsonElement obj, string key, string file, int minimum = 1) => Member(obj, key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } value when value.TryGetInt32(out int number) && number >= minimum => number,
        JsonElement value => throw new InvalidDataException(
            $"{file}: '{key}' must be an integer of at least {minimum.ToString(CultureInfo.InvariantCulture)}; got {value.GetRawText()}."),
    };

    /// <summary>An object member, or null when absent.</summary>
    /// <exception cref="InvalidDataException">Present but not an object.</exception>
    public static JsonElement? Object(JsonElement obj, string key, string file) => Member(obj, key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Object } value => value,
        JsonElement value => throw new InvalidDataException($"{file}: '{key}' must be an object; got a JSON {value.ValueKind}."),
    };

    /// <summary>The strings of an array member (empty when absent).</summary>
    /// <exception cref="InvalidDataException">Present but not an array of strings.</exception>
    public static string[] Strings(JsonElement obj, string key, string file)
    {
        JsonElement? value = Member(obj, key);
        if (value is null)
        {
            return [];
        }
        if (value.Value.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{file}: '{key}' must be an array of strings; got a JSON {value.Value.ValueKind}.");
        }
        var result = new string[value.Value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.Value.EnumerateArray())
        {
            result[i++] = item.ValueKind == JsonValueKind.String
                ? item.GetString()!
                : throw new InvalidDataException($"{file}: '{key}'[{i}] must be a string; got {item.GetRawText()}.");
        }
        return result;
    }
}
