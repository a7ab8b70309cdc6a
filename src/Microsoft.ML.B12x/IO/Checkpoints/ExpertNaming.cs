using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// How a checkpoint names the routed experts of a layer: <c>{Root}.{layer}.{Block}.experts.{e}.{projection}</c>
/// (checkpoint-formats.md §6 and trap T14). Recognised: roots <c>model.layers</c> (Qwen3-MoE, DeepSeek, Mixtral),
/// <c>backbone.layers</c> (Nemotron-H), <c>model.language_model.layers</c> and <c>language_model.model.layers</c>;
/// blocks <c>mlp</c>, <c>block_sparse_moe</c>, <c>mixer</c>, <c>feed_forward</c>; projections
/// gate_proj/up_proj/down_proj or Mixtral's w1 (gate)/w3 (up)/w2 (down), and up_proj/down_proj alone for the
/// non-gated relu² experts of Nemotron-H. Every combination is accepted, because exporters sometimes write another
/// family's names (T14); the expert count and shapes are then checked against config.json.
/// </summary>
/// <param name="Root">The prefix before the layer index, e.g. "model.layers".</param>
/// <param name="Block">The MoE block's name inside the layer, e.g. "mlp".</param>
/// <param name="Gate">The gate projection's name, or null for non-gated experts.</param>
/// <param name="Up">The up projection's name.</param>
/// <param name="Down">The down projection's name.</param>
internal sealed record ExpertNaming(string Root, string Block, string? Gate, string Up, string Down)
{
    private static readonly string[] s_roots = ["model.layers", "backbone.layers", "model.language_model.layers", "language_model.model.layers"];
    private static readonly string[] s_blocks = ["mlp", "block_sparse_moe", "mixer", "feed_forward"];
    private static readonly (string Gate, string Up, string Down)[] s_projections = [("gate_proj", "up_proj", "down_proj"), ("w1", "w3", "w2")];

    private static readonly Regex s_downTensor = new(
        "^(?<root>" + string.Join("|", s_roots.Select(Regex.Escape)) + @")\.(?<layer>[0-9]+)\.(?<block>" +
        string.Join("|", s_blocks.Select(Regex.Escape)) + @")\.experts\.0\.(?<down>" + string.Join("|", s_projections.Select(p => p.Down)) + @")\.",
        RegexOptions.CultureInvariant);

    /// <summary>True for gate + up + down experts (silu), false for up + down (relu²).</summary>
    public bool Gated => Gate is not null;

    /// <summary>The module of one projection, e.g. "model.layers.3.mlp.experts.7.up_proj".</summary>
    public string Module(int layer, int expert, string projection) =>
        string.Create(CultureInfo.InvariantCulture, $"{Root}.{layer}.{Block}.experts.{expert}.{projection}");

    /// <summary>The projections of one expert in reading order: gate (if any), up, down.</summary>
    public IEnumerable<string> Projections => Gated ? [Gate!, Up, Down] : [Up, Down];

    /// <summary>The naming pattern for reports, e.g. "model.layers.{layer}.mlp.experts.{e}.{gate_proj,up_proj,down_proj}".</summary>
    public string Pattern => $"{Root}.{{layer}}.{Block}.experts.{{e}}.{{{string.Join(",", Projections)}}}";

    /// <summary>
    /// The naming whose expert 0 of <paramref name="layer"/> has a down projection tensor
    /// (<c>…experts.0.{down}{weightSuffix}</c>) in <paramref name="contains"/>, or null when none does.
    /// </summary>
    /// <exception cref="System.IO.InvalidDataException">Several namings match.</exception>
    public static ExpertNaming? Detect(Func<string, bool> contains, int layer, string weightSuffix)
    {
        var found = new List<ExpertNaming>();
        foreach (string root in s_roots)
        {
            foreach (string block in s_blocks)
            {
                foreach ((string gate, string up, string down) in s_projections)
                {
                    var candidate = new ExpertNaming(root, block, gate, up, down);
                    if (!contains(candidate.Module(layer, 0, down) + weightSuffix))
                    {
                        continue;
                    }
                    bool gated = contains(candidate.Module(layer, 0, gate) + weightSuffix);
                    found.Add(gated ? candidate : candidate with { Gate = null });
                }
            }
        }
        if (found.Count > 1)
        {
            throw new System.IO.InvalidDataException(
                $"Layer {layer} has experts under several names ({string.Join("; ", found.Select(n => n.Pattern))}); the checkpoint is ambiguous.");
        }
        return found.SingleOrDefault();
    }

    /// <summary>The layers that have routed experts (an expert 0 with a down projection), from all tensor names.</summary>
    public static SortedSet<int> MoeLayers(IEnumerable<string> names)
    {
        var layers = new SortedSet<int>();
        foreach (string name in names)
        {
            Match match = s_downTensor.Match(name);
            if (match.Success && int.TryParse(match.Groups["layer"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int layer))
            {
                layers.Add(layer);
            }
        }
        return layers;
    }
}
