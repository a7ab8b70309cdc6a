using System;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Microsoft.ML;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;

namespace B12x.Samples.Console;

/// <summary>
/// Runs an NVFP4 MoE layer over a file of hidden states through an ML.NET pipeline. Without arguments it synthesises
/// a layer and 4,096 tokens (CSV) in a folder under the temp directory; with <c>--layer</c>/<c>--inputs</c> it uses
/// yours. Progress goes to standard error, the summary to standard output.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var layer = new Option<FileInfo?>("--layer") { Description = "Layer file (safetensors). Default: a synthesised layer (H=512, I=256, E=32, K=4)." };
        var inputs = new Option<FileInfo?>("--inputs")
        {
            Description = "Hidden states: a .csv (x0.., then logit0.. or id0.. and w0..) or an inputs file (.safetensors). Default: synthesised CSV.",
        };
        var output = new Option<FileInfo?>("--output") { Description = "Output file: .csv, or an output file (.safetensors). Default: like the inputs, in --output-dir." };
        var outputDirectory = new Option<DirectoryInfo>("--output-dir")
        {
            Description = "Where synthesised and default files go.",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(Path.GetTempPath(), "b12x-sample")),
        };
        var tokens = new Option<int>("--tokens") { Description = "Tokens to synthesise.", DefaultValueFactory = _ => 4096 };
        var batchSize = new Option<int>("--batch-size")
        {
            Description = "Rows per fused call.", DefaultValueFactory = _ => FusedMoeTransformerOptions.DefaultBatchSize,
        };
        var device = new Option<ComputeDevice>("--device") { Description = "Auto (CUDA when available), Cpu or Cuda.", DefaultValueFactory = _ => ComputeDevice.Auto };
        var router = new Option<RouterKind>("--router") { Description = "Router for inputs with logits: SoftmaxTopK or TopKSoftmax.", DefaultValueFactory = _ => RouterKind.SoftmaxTopK };
        var seed = new Option<int>("--seed") { Description = "Random seed of synthesised data.", DefaultValueFactory = _ => 0 };
        var root = new RootCommand("Runs the fused NVFP4 MoE layer over hidden states through an ML.NET pipeline.")
        {
            layer, inputs, output, outputDirectory, tokens, batchSize, device, router, seed,
        };
        root.SetAction(parse => Run(new SampleSettings(
            parse.GetValue(layer)?.FullName, parse.GetValue(inputs)?.FullName, parse.GetValue(output)?.FullName,
            parse.GetRequiredValue(outputDirectory).FullName, parse.GetValue(tokens), parse.GetValue(batchSize), parse.GetValue(device),
            parse.GetValue(router), parse.GetValue(seed))));
        try
        {
            return root.Parse(args).Invoke();
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException or NotSupportedException)
        {
            System.Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static int Run(SampleSettings settings)
    {
        if (settings.InputsPath is not null && settings.LayerPath is null)
        {
            throw new ArgumentException("--inputs needs the --layer it was made for.");
        }
        if (settings.Tokens < 1 || settings.BatchSize < 1)
        {
            throw new ArgumentException($"--tokens and --batch-size must be at least 1; got {settings.Tokens} and {settings.BatchSize}.");
        }
        Directory.CreateDirectory(settings.OutputDirectory);
        string layerPath = settings.LayerPath ?? Synthesise(Path.Combine(settings.OutputDirectory, "layer.safetensors"), () =>
            SyntheticData.WriteLayer(Path.Combine(settings.OutputDirectory, "layer.safetensors"), settings.Seed));

        var mlContext = new MLContext(seed: settings.Seed);
        using MoeWeights weights = MoeWeights.FromLayerFile(layerPath, settings.Device);
        MoeLayerConfig config = weights.Config;
        string inputsPath = settings.InputsPath ?? Synthesise(Path.Combine(settings.OutputDirectory, "hidden-states.csv"), () =>
        {
            using ConsoleProgress bar = ConsoleProgress.OnStandardError("writing hidden-states.csv", settings.Tokens);
            SyntheticData.WriteHiddenStatesCsv(
                Path.Combine(settings.OutputDirectory, "hidden-states.csv"), settings.Tokens, config.Hidden, config.NumExperts, settings.Seed,
                done => bar.Report(done));
        });
        string outputPath = settings.OutputPath ?? Path.Combine(
            settings.OutputDirectory, HiddenStatesFiles.IsCsv(inputsPath) ? "output.csv" : "output.safetensors");

        HiddenStatesFiles.Input input = HiddenStatesFiles.Load(mlContext, inputsPath, config.Hidden);
        var options = new FusedMoeTransformerOptions
        {
            OutputColumnName = "Output",
            HiddenStatesColumnName = HiddenStatesFiles.HiddenColumn,
            ExpertIdsColumnName = input.HasRouterLogits ? null : HiddenStatesFiles.IdsColumn,
            RoutingWeightsColumnName = input.HasRouterLogits ? null : HiddenStatesFiles.WeightsColumn,
            RouterLogitsColumnName = input.HasRouterLogits ? HiddenStatesFiles.LogitsColumn : null,
            Router = settings.Router,
            TopK = config.TopK is null && input.HasRouterLogits ? SyntheticData.TopK : null,
            Device = settings.Device,
            BatchSize = settings.BatchSize,
        };
        using FusedMoeTransformer transformer = mlContext.Transforms.FusedMoe(weights, options).Fit(input.View);
        IDataView transformed = transformer.Transform(input.View);

        var clock = Stopwatch.StartNew();
        long rows;
        using (ConsoleProgress bar = ConsoleProgress.OnStandardError("running the layer", input.Tokens))
        {
            rows = HiddenStatesFiles.WriteOutput(transformed, options.OutputColumnName, outputPath, done => bar.Report(done));
        }
        clock.Stop();

        string routing = input.HasRouterLogits ? $"router {settings.Router}" : "ids and weights from the inputs";
        System.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rows={rows} H={config.Hidden} I={config.Intermediate} E={config.NumExperts} K={options.TopK ?? config.TopK} ({routing}) " +
            $"batch_size={settings.BatchSize} device={transformer.Device.ToString().ToLowerInvariant()} " +
            $"time={clock.Elapsed.TotalSeconds:0.000} s rows/s={rows / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):0} -> {outputPath}"));
        System.Console.WriteLine($"device choice: {transformer.DeviceReason}.");
        return 0;
    }

    /// <summary>Runs <paramref name="write"/> to create <paramref name="path"/>, saying so on standard error.</summary>
    private static string Synthesise(string path, Action write)
    {
        System.Console.Error.WriteLine($"synthesising {path}");
        write();
        return path;
    }
}
