using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// What <see cref="CheckpointImporter.ImportLayer"/> read and decided: the source, its format, how the checkpoint's
/// scales became the operator's arguments, and every adjustment or warning (<see cref="Notes"/>).
/// <see cref="ToString"/> gives the text that the CLI prints and stores in the layer file's metadata.
/// </summary>
public sealed class ImportReport
{
    /// <summary>The checkpoint directory.</summary>
    public required string Checkpoint { get; init; }

    /// <summary>The decoder layer imported.</summary>
    public required int Layer { get; init; }

    /// <summary>config.json's <c>model_type</c>, if given.</summary>
    public string? ModelType { get; init; }

    /// <summary>The tensor format.</summary>
    public required CheckpointFormat Format { get; init; }

    /// <summary>The quantisation config in one line (format, algorithm, where it was read, producer).</summary>
    public required string Quantization { get; init; }

    /// <summary>The expert naming found, e.g. "model.layers.{layer}.mlp.experts.{e}.{gate_proj,up_proj,down_proj}".</summary>
    public required string ExpertNaming { get; init; }

    /// <summary>The safetensors files read (relative to the checkpoint directory).</summary>
    public required IReadOnlyList<string> FilesRead { get; init; }

    /// <summary>How many tensors were read.</summary>
    public required int TensorsRead { get; init; }

    /// <summary>The imported layer's configuration.</summary>
    public required MoeLayerConfig Config { get; init; }

    /// <summary>True when the older scale convention was emitted (see <see cref="CheckpointImportOptions.LegacyScales"/>).</summary>
    public required bool LegacyScales { get; init; }

    /// <summary>How the operator's scalar arguments were set from the checkpoint, one line each.</summary>
    public required IReadOnlyList<string> ScaleMapping { get; init; }

    /// <summary>Adjustments and warnings, in the order they were made.</summary>
    public required IReadOnlyList<ImportNote> Notes { get; init; }

    /// <summary>The notes about <paramref name="issue"/>.</summary>
    public IEnumerable<ImportNote> NotesAbout(ImportIssue issue) => Notes.Where(n => n.Issue == issue);

    /// <summary>The report as text: a header line, indented details, then one line per note.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        MoeLayerConfig c = Config;
        text.Append(CultureInfo.InvariantCulture, $"import of layer {Layer} from {Checkpoint}");
        text.AppendLine(ModelType is null ? "" : $" (model_type {ModelType})");
        text.AppendLine($"  quantisation: {Quantization}");
        text.AppendLine($"  experts: {ExpertNaming}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  read {TensorsRead} tensors from {FilesRead.Count} file(s): {string.Join(", ", FilesRead)}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  layer: H={c.Hidden} I={c.Intermediate} E={c.NumExperts} K={(c.TopK is int k ? k.ToString(CultureInfo.InvariantCulture) : "(unknown)")} " +
            $"activation={ModeSpellings.ToSpelling(c.Activation)} quant_mode={ModeSpellings.ToSpelling(c.QuantMode)} " +
            $"scale_layout={ModeSpellings.ToSpelling(c.ScaleLayout)}{(c.Activation == MoeActivation.Silu ? ", W1 rows = [up; gate]" : "")}");
        foreach (string line in ScaleMapping)
        {
            text.AppendLine($"  {line}");
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"  notes: {Notes.Count}");
        foreach (ImportNote note in Notes)
        {
            text.AppendLine($"    - {note}");
        }
        return text.ToString();
    }
}
