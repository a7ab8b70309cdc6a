using System.Collections.Generic;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>What <see cref="CheckpointQuantizer.Quantize"/> wrote.</summary>
/// <param name="Layers">Per quantised layer, in ascending order: its errors and input scales.</param>
/// <param name="FilesWritten">The files written into the output directory (names relative to it).</param>
/// <param name="Calibrated">True when the input scales came from calibration activations.</param>
public sealed record CheckpointQuantizationResult(IReadOnlyList<LayerQuantizationResult> Layers, IReadOnlyList<string> FilesWritten, bool Calibrated);
