using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using Microsoft.ML.B12x.IO.Checkpoints;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x quantize</c>: bf16/f16/f32 MoE expert weights of a checkpoint into a ModelOpt-format NVFP4 checkpoint
/// (<see cref="CheckpointQuantizer"/>), printing each layer's weight quantisation error.
/// </summary>
internal static class QuantizeCommand
{
    /// <summary>Layer indices accepted by --layers stay below this (no model has that many layers; it bounds a range's size).</summary>
    private const int MaxLayer = 1 << 16;

    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint")
        {
            Description = "The unquantised checkpoint directory (config.json, model.safetensors or a shard index and its shards).",
            Required = true,
            HelpName = "dir",
        };
        checkpoint.AcceptExistingOnly();
        var output = new Option<DirectoryInfo>("--output")
        {
            Description = "The directory to write the NVFP4 checkpoint to (created if missing; files of the same names are replaced).",
            Required = true,
            HelpName = "dir",
        };
        var layers = new Option<IReadOnlyCollection<int>?>("--layers")
        {
            Description = "Layers to quantise, e.g. '0,2-5' (default: every layer with routed experts). The others stay as they are.",
            HelpName = "a,b-c",
            CustomParser = ParseLayers,
        };
        var calibration = new Option<FileInfo>("--calibration")
        {
            Description = "Safetensors file of calibration tokens: 'x' [T, H] (BF16/F16/F32) for every layer, or 'layers.{l}.x' per layer " +
                "(an inputs file of 'b12x synth' works). Input scales become amax/(6*448): of x for gate/up, and per expert of the " +
                "activation silu(x*Wg^T)*(x*Wu^T) (relu^2 without a gate) for down_proj. Default without it: every input_scale = 1/6 " +
                "(448/2688, an assumed activation amax of 448: each 16-block's E4M3 scale equals its amax).",
            HelpName = "file",
        };
        calibration.AcceptExistingOnly();
        var command = new Command("quantize",
            "Quantise a checkpoint's MoE expert weights (bf16, f16, f32) to a ModelOpt-format NVFP4 checkpoint; prints each layer's weight error.")
        {
            checkpoint, output, layers, calibration,
        };
        command.SetAction(parse => Execute(
            parse.GetRequiredValue(checkpoint).FullName, parse.GetRequiredValue(output).FullName, parse.GetValue(layers),
            parse.GetValue(calibration)?.FullName, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Execute(
        string checkpoint, string outputDirectory, IReadOnlyCollection<int>? layers, string? calibration, TextWriter output, TextWriter error)
    {
        var options = new CheckpointQuantizationOptions
        {
            Layers = layers,
            CalibrationPath = calibration,
            Progress = new TextProgress(error, "b12x quantize: "),
        };
        CheckpointQuantizationResult result = CheckpointQuantizer.Quantize(checkpoint, outputDirectory, options);
        foreach (LayerQuantizationResult layer in result.Layers)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"layer {layer.Layer}: {layer.Experts} experts, weight rel L2 error gate/up {layer.GateUpError:F4}, down {layer.DownError:F4}, " +
                $"all {layer.Error:F4}; input_scale {layer.InputScale:G6}, down input_scale {layer.MinDownInputScale:G6} to {layer.MaxDownInputScale:G6}"));
        }
        string scales = result.Calibrated
            ? $"input scales calibrated from {calibration}"
            : string.Create(CultureInfo.InvariantCulture, $"input scales: default {CheckpointQuantizationOptions.DefaultInputScale:G6} (no --calibration)");
        output.WriteLine($"wrote {result.FilesWritten.Count} files to {outputDirectory}; {scales}");
        return ExitCodes.Success;
    }

    /// <summary>"0,2-5" → {0, 2, 3, 4, 5}; errors name the bad item.</summary>
    private static IReadOnlyCollection<int>? ParseLayers(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        var layers = new SortedSet<int>();
        foreach (string item in text.Split(','))
        {
            string[] bounds = item.Split('-');
            if (bounds.Length is < 1 or > 2 ||
                !int.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out int first) ||
                !int.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int last) || last < first || last >= MaxLayer)
            {
                result.AddError($"--layers: '{item}' is not a layer index or a range a-b (a ≤ b) of integers in [0, {MaxLayer}); got '{text}'.");
                return null;
            }
            for (int layer = first; layer <= last; layer++)
            {
                layers.Add(layer);
            }
        }
        return layers;
    }
}
