using System;
using System.Collections.Generic;
using System.Globalization;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// One MoE layer imported from a checkpoint: the operator's tensors and configuration (what a layer file holds) and
/// the import report. Owns the layer's tensors: disposing it disposes them.
/// </summary>
public sealed class ImportedLayer : IDisposable
{
    /// <summary>Metadata key of the import report text in a saved layer file.</summary>
    public const string ReportKey = "import_report";

    /// <summary>Metadata key of the checkpoint directory.</summary>
    public const string SourceCheckpointKey = "source_checkpoint";

    /// <summary>Metadata key of the decoder layer index.</summary>
    public const string SourceLayerKey = "source_layer";

    /// <summary>Metadata key describing the scale convention (operator's own, older and lossy, or weight-only).</summary>
    public const string ScaleConventionKey = "scale_convention";

    /// <summary>Wraps an imported layer and its report.</summary>
    public ImportedLayer(MoeLayerData layer, ImportReport report)
    {
        Layer = layer ?? throw new ArgumentNullException(nameof(layer));
        Report = report ?? throw new ArgumentNullException(nameof(report));
    }

    /// <summary>The layer: the arguments of <see cref="B12xOps.FusedMoe"/> and their configuration.</summary>
    public MoeLayerData Layer { get; }

    /// <summary>What was read and decided.</summary>
    public ImportReport Report { get; }

    /// <summary>
    /// The metadata a saved layer file carries besides the layer keys: the report text, the source, and the scale
    /// convention (saying so when it is the older, lossy one).
    /// </summary>
    public IReadOnlyDictionary<string, string> Metadata => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [SourceCheckpointKey] = Report.Checkpoint,
        [SourceLayerKey] = Report.Layer.ToString(CultureInfo.InvariantCulture),
        [ScaleConventionKey] = Layer.Config.QuantMode == MoeQuantMode.W4A16
            ? "weight-only: w1_alpha and w2_alpha are the weights' global scales"
            : Report.LegacyScales
                ? "legacy (lossy): weight global scale baked into the W1 block scales (one extra E4M3 rounding), w1_alpha = input scale, no input_global_scale"
                : "input_global_scale: w1_alpha = weight global scale, input_global_scale = input scale",
        [ReportKey] = Report.ToString(),
    };

    /// <summary>Writes the layer as a layer file with <see cref="Metadata"/> (atomically).</summary>
    /// <param name="path">The target file; replaced if it exists.</param>
    /// <param name="progress">Receives the data bytes written so far.</param>
    public void Save(string path, IProgress<long>? progress = null) =>
        LayerFile.Save(path, Layer, Metadata, progress, legacyScales: Report.LegacyScales);

    /// <inheritdoc />
    public void Dispose() => Layer.Dispose();
}
