using System.CommandLine;
using System.Globalization;
using System.IO;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Checkpoints;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x import</c>: one MoE layer of an NVFP4 checkpoint (ModelOpt or compressed-tensors) into a layer file, with
/// the import report on standard error and in the file's metadata (<see cref="ImportedLayer.ReportKey"/>).
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint")
        {
            Description = "The checkpoint directory: config.json, hf_quant_config.json (ModelOpt) or a quantization_config in config.json " +
                "(ModelOpt or compressed-tensors nvfp4-pack-quantized), model.safetensors or model.safetensors.index.json and its shards.",
            Required = true,
            HelpName = "dir",
        };
        checkpoint.AcceptExistingOnly();
        Option<int> layer = CommonOptions.Size("--layer", "The decoder layer to import, 0-based (it must have routed experts).", minimum: 0);
        Option<FileInfo> output = CommonOptions.NewFile("--output", "The layer file to write (scales swizzled; replaced if it exists).");
        var legacy = new Option<bool>("--legacy-scales")
        {
            Description = "Write FlashInfer's older convention for callers of its original signature: the weight global scale baked " +
                "into W1's E4M3 block scales, w1_alpha = the input scale, no input_global_scale. Lossy (one extra E4M3 rounding per W1 " +
                "block scale; small scales lose precision or become zero); the report and the file's metadata say so.",
        };
        var command = new Command("import", "Import one MoE layer of an NVFP4 Hugging Face checkpoint into a layer file.")
        {
            checkpoint, layer, output, legacy,
        };
        command.SetAction(parse => Execute(
            parse.GetRequiredValue(checkpoint).FullName, parse.GetValue(layer), parse.GetRequiredValue(output).FullName, parse.GetValue(legacy),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Execute(string checkpoint, int layer, string path, bool legacyScales, TextWriter output, TextWriter error)
    {
        using ImportedLayer imported = CheckpointImporter.ImportLayer(checkpoint, layer, new CheckpointImportOptions { LegacyScales = legacyScales });
        error.Write(imported.Report.ToString());
        MoeLayerData data = imported.Layer;
        long bytes = data.W1Weight.numel() + data.W2Weight.numel() + data.W1WeightSf.numel() + data.W2WeightSf.numel();
        imported.Save(path, new FileProgress(error, Path.GetFileName(path), bytes));
        MoeLayerConfig c = data.Config;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"imported layer {layer} of {checkpoint}: H={c.Hidden} I={c.Intermediate} E={c.NumExperts} " +
            $"K={(c.TopK is int k ? k.ToString(CultureInfo.InvariantCulture) : "?")} activation={ModeSpellings.ToSpelling(c.Activation)} " +
            $"quant_mode={ModeSpellings.ToSpelling(c.QuantMode)}{(imported.Report.LegacyScales ? " scales=legacy" : "")} " +
            $"notes={imported.Report.Notes.Count} -> {path}"));
        return ExitCodes.Success;
    }
}
