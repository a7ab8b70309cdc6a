using System;
using System.CommandLine;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x info</c>: what a safetensors file holds (tensors, metadata, and for layer, inputs and output files their
/// sizes and modes), or what a directory holds (its safetensors files and config.json).
/// </summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var path = new Argument<FileSystemInfo>("path")
        {
            Description = "A safetensors file (layer, inputs, output or any other) or a directory (e.g. a checkpoint).",
        };
        path.AcceptExistingOnly();
        var command = new Command("info", "Describe a safetensors file or a directory of them.") { path };
        command.SetAction(parse => parse.GetRequiredValue(path) switch
        {
            DirectoryInfo directory => DescribeDirectory(directory, parse.InvocationConfiguration.Output),
            FileSystemInfo file => DescribeFile(file.FullName, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error),
        });
        return command;
    }

    private static int DescribeFile(string path, TextWriter output, TextWriter error)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{path}: safetensors, {reader.Tensors.Count} tensors, {reader.FileLength} bytes (header {reader.HeaderLength} bytes)"));
        if (reader.Metadata.Count > 0)
        {
            output.WriteLine("metadata:");
            foreach ((string key, string value) in reader.Metadata)
            {
                output.WriteLine($"  {key} = {value.ReplaceLineEndings(" ")}");
            }
        }
        output.WriteLine("tensors:");
        int nameWidth = reader.Tensors.Select(t => t.Name.Length).DefaultIfEmpty(0).Max();
        int shapeWidth = reader.Tensors.Select(t => t.ShapeText.Length).DefaultIfEmpty(0).Max();
        foreach (SafetensorsTensorInfo tensor in reader.Tensors)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {tensor.Name.PadRight(nameWidth)}  {SafetensorsDtypes.ToName(tensor.Dtype),-7}  {tensor.ShapeText.PadRight(shapeWidth)}  {tensor.ByteLength} bytes"));
        }

        if (LayerFile.IsLayerFile(reader))
        {
            MoeLayerConfig config = LayerFile.ReadConfig(reader);
            output.WriteLine("layer file:");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  H={config.Hidden} I={config.Intermediate} E={config.NumExperts} E_loc={config.NumLocalExperts} " +
                $"local_expert_offset={config.LocalExpertOffset} K={(config.TopK is int k ? k.ToString(CultureInfo.InvariantCulture) : "(not given)")}"));
            output.WriteLine(
                $"  activation={ModeSpellings.ToSpelling(config.Activation)} quant_mode={ModeSpellings.ToSpelling(config.QuantMode)} " +
                $"source_format={ModeSpellings.ToSpelling(config.SourceFormat)} scale_layout={ModeSpellings.ToSpelling(config.ScaleLayout)}");
            output.WriteLine($"  input_global_scale: {(reader.Contains(LayerFile.InputGlobalScaleName) ? "present" : "absent")}");
            using Tensor w1Alpha = reader.ReadTensor(LayerFile.W1AlphaName);
            if (ScaleConventionCheck.Warning(config, TensorPointers.HostSpan<float>(w1Alpha), reader.Contains(LayerFile.InputGlobalScaleName)) is string warning)
            {
                error.WriteLine($"b12x info: warning: {warning}");
            }
        }
        else if (InputsFile.IsInputsFile(reader))
        {
            (int tokens, int hidden, int topK) = InputsFile.ReadShape(reader);
            output.WriteLine("inputs file:");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  T={tokens} H={hidden} K={topK} ids={SafetensorsDtypes.ToName(reader.Get(InputsFile.TokenSelectedExpertsName).Dtype)}"));
        }
        else if (OutputFile.IsOutputFile(reader))
        {
            SafetensorsTensorInfo result = reader.Get(OutputFile.OutputName);
            output.WriteLine("output file:");
            output.WriteLine(result.Shape.Count == 2
                ? string.Create(CultureInfo.InvariantCulture, $"  T={result.Shape[0]} H={result.Shape[1]}")
                : $"  unexpected shape {result.ShapeText} (expected [T, H])");
        }
        return ExitCodes.Success;
    }

    private static int DescribeDirectory(DirectoryInfo directory, TextWriter output)
    {
        FileInfo[] files = directory.GetFiles("*.safetensors").OrderBy(f => f.Name, StringComparer.Ordinal).ToArray();
        FileInfo config = new(Path.Combine(directory.FullName, "config.json"));
        output.WriteLine($"{directory.FullName}: directory, {files.Length} safetensors files{(config.Exists ? ", config.json" : "")}");
        int status = ExitCodes.Success;
        foreach (FileInfo file in files)
        {
            try
            {
                using SafetensorsReader reader = SafetensorsReader.Open(file.FullName);
                string dtypes = string.Join(", ", reader.Tensors
                    .GroupBy(t => t.Dtype).OrderBy(g => g.Key)
                    .Select(g => $"{SafetensorsDtypes.ToName(g.Key)}×{g.Count()}"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {file.Name}: {file.Length} bytes, {reader.Tensors.Count} tensors ({dtypes}), {reader.Metadata.Count} metadata entries"));
            }
            catch (InvalidDataException e)
            {
                output.WriteLine($"  {file.Name}: invalid: {e.Message.ReplaceLineEndings(" ")}");
                status = ExitCodes.Failure;
            }
        }
        if (config.Exists)
        {
            status = Math.Max(status, DescribeConfig(config, output));
            DescribeCheckpoint(directory.FullName, output);
        }
        return status;
    }

    /// <summary>The MoE view of a checkpoint directory; a directory that is not one is said so, without failing.</summary>
    private static void DescribeCheckpoint(string directory, TextWriter output)
    {
        CheckpointSummary summary;
        try
        {
            summary = CheckpointInspector.Describe(directory);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or FileNotFoundException)
        {
            output.WriteLine($"checkpoint: not an MoE checkpoint the importer reads: {e.Message.ReplaceLineEndings(" ")}");
            return;
        }
        string Optional(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "?";
        output.WriteLine("checkpoint:");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  model_type={summary.ModelType ?? "?"} layers={Optional(summary.NumLayers)} hidden={summary.Hidden} intermediate={summary.Intermediate} " +
            $"experts={summary.NumExperts} top_k={Optional(summary.TopK)} activation={summary.Activation ?? "?"}"));
        output.WriteLine(summary.MoeLayers.Count == 0
            ? "  MoE layers: none found under a recognised name"
            : $"  MoE layers: {IndexRanges.Format(summary.MoeLayers)} ({summary.MoeLayers.Count}); experts: {summary.ExpertNaming}");
        output.WriteLine($"  quantisation: {summary.Quantization ?? "none (unquantised; 'b12x quantize' makes an NVFP4 checkpoint)"}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {summary.Tensors} tensors in {summary.Files} safetensors file(s)"));
    }

    /// <summary>Prints config.json's top-level entries: scalars as they are, objects and arrays by their size.</summary>
    private static int DescribeConfig(FileInfo config, TextWriter output)
    {
        output.WriteLine("config.json:");
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(config.FullName));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                output.WriteLine($"  invalid: the top level is a JSON {document.RootElement.ValueKind}, not an object");
                return ExitCodes.Failure;
            }
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                string value = property.Value.ValueKind switch
                {
                    JsonValueKind.Object => $"{{…}} ({property.Value.EnumerateObject().Count()} entries)",
                    JsonValueKind.Array => $"[…] ({property.Value.GetArrayLength()} items)",
                    _ => property.Value.GetRawText(),
                };
                output.WriteLine($"  {property.Name} = {value}");
            }
            return ExitCodes.Success;
        }
        catch (JsonException e)
        {
            output.WriteLine($"  invalid JSON: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Failure;
        }
    }
}
