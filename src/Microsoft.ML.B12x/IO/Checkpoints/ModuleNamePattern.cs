using System;
using System.Text.RegularExpressions;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Module-name patterns of quantisation configs, matched at module boundaries (checkpoint-formats.md §2.1, §3.1 and
/// trap T5: "model.layers.3.mlp.gate" names the router, never "model.layers.3.mlp.gate_proj").
/// </summary>
internal sealed class ModuleNamePattern
{
    private readonly string _text;
    private readonly Regex? _regex;

    private ModuleNamePattern(string text, Regex? regex)
    {
        _text = text;
        _regex = regex;
    }

    /// <summary>The pattern as written in the config.</summary>
    public override string ToString() => _text;

    /// <summary>
    /// ModelOpt <c>exclude_modules</c> / <c>ignore</c>: an exact module name, or a shell wildcard where <c>*</c>
    /// matches any text (ModelOpt writes prefixes such as <c>model.layers.30.self_attn*</c>; vLLM applies fnmatch).
    /// </summary>
    public static ModuleNamePattern Wildcard(string text) =>
        new(text, text.Contains('*', StringComparison.Ordinal)
            ? new Regex("^" + Regex.Escape(text).Replace(@"\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant | RegexOptions.Singleline)
            : null);

    /// <summary>
    /// compressed-tensors <c>ignore</c> / <c>targets</c>: an exact module name, or <c>re:</c> followed by a regular
    /// expression matched from the start of the name (Python's <c>re.match</c>).
    /// </summary>
    public static ModuleNamePattern CompressedTensors(string text) =>
        new(text, text.StartsWith("re:", StringComparison.Ordinal)
            ? new Regex("^(?:" + text[3..] + ")", RegexOptions.CultureInvariant)
            : null);

    /// <summary>True when <paramref name="module"/> matches.</summary>
    public bool Matches(string module) => _regex?.IsMatch(module) ?? string.Equals(_text, module, StringComparison.Ordinal);
}
