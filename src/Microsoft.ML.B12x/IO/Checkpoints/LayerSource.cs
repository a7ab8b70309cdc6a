namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>Everything the importer knows about the layer it assembles.</summary>
internal sealed record LayerSource(
    string Directory, int Layer, CheckpointModelConfig Model, CheckpointQuantization Quantization, CheckpointTensors Tensors, ExpertNaming Naming);
