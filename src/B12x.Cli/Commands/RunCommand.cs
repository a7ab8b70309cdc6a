using System;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x run</c>: runs a layer file on an inputs file with <see cref="B12xOps.FusedMoe"/> and writes the output
/// file, printing a one-line summary.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        Option<FileInfo> layer = CommonOptions.ExistingFile("--layer", "The layer file (safetensors; see the README's file formats).");
        Option<FileInfo> inputs = CommonOptions.ExistingFile("--inputs", "The inputs file: x, token_selected_experts, token_final_scales.");
        Option<FileInfo> output = CommonOptions.NewFile("--output", "Where to write the output file (tensor 'output', BF16 [T, H]); replaced if it exists.");
        SpellingOption<ComputeDevice> device = CommonOptions.Spelling(
            "--device", "Where to run: auto (CUDA when a GPU is visible, else CPU; an unsupported CUDA call falls back to the CPU with a logged reason), cpu, cuda.",
            "auto", ModeSpellings.ParseDevice);
        SpellingOption<KernelStrategy> strategy = CommonOptions.Spelling(
            "--strategy", "CUDA kernel strategy: auto, micro, static, dynamic (the CPU backend ignores it).", "auto", ModeSpellings.ParseStrategy);

        var command = new Command("run", "Run a layer file on an inputs file and write the output file.")
        {
            layer, inputs, output, device, strategy,
        };
        command.SetAction(parse => Execute(
            parse.GetRequiredValue(layer).FullName, parse.GetRequiredValue(inputs).FullName, parse.GetRequiredValue(output).FullName,
            device.GetValue(parse), strategy.GetValue(parse), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Execute(
        string layerPath, string inputsPath, string outputPath, ComputeDevice device, KernelStrategy strategy,
        TextWriter output, TextWriter error)
    {
        bool gpu = cuda.is_available();
        if (device == ComputeDevice.Cuda && !gpu)
        {
            throw new NotSupportedException(
                "--device cuda: TorchSharp sees no CUDA device here (no GPU, or the application was built with the CPU LibTorch; " +
                "build with -p:B12xLibTorch=cuda or bring a CUDA LibTorch, see the README).");
        }
        // CPU tensors always run on the CPU under Auto, so Auto places the data on the GPU when there is one.
        bool onCuda = device == ComputeDevice.Cuda || (device == ComputeDevice.Auto && gpu);
        Device dataDevice = onCuda ? CUDA : CPU;
        using MoeLayerData layer = LayerFile.Load(layerPath, dataDevice);
        using MoeInputs inputs = InputsFile.Load(inputsPath, dataDevice);
        MoeLayerConfig config = layer.Config;
        if (inputs.Hidden != config.Hidden)
        {
            throw new InvalidDataException(
                $"{inputsPath}: x has hidden size {inputs.Hidden} but the layer {layerPath} has H = {config.Hidden}.");
        }
        layer.EnsureAgrees(topK: inputs.TopK);
        if (ScaleConventionCheck.Warning(layer) is string warning)
        {
            error.WriteLine($"b12x run: warning: {warning}");
        }

        using DisposeScope scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        Tensor result = B12xOps.FusedMoe(
            inputs.X, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf,
            inputs.TokenSelectedExperts, inputs.TokenFinalScales, config.NumExperts, inputs.TopK,
            layer.W1Alpha, layer.W2Alpha, layer.CreateOptions(strategy, device));
        Tensor host = result.cpu();
        clock.Stop();
        OutputFile.Save(outputPath, host, new FileProgress(error, Path.GetFileName(outputPath), host.numel() * 2));
        float rms = host.to(ScalarType.Float32).square().mean().sqrt().item<float>();

        string experts = config.NumLocalExperts == config.NumExperts
            ? $"E={config.NumExperts}"
            : $"E={config.NumExperts} E_loc={config.NumLocalExperts}@{config.LocalExpertOffset}";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"T={inputs.Tokens} H={config.Hidden} I={config.Intermediate} {experts} K={inputs.TopK} " +
            $"mode={ModeSpellings.ToSpelling(config.QuantMode)} activation={ModeSpellings.ToSpelling(config.Activation)} " +
            $"device={(onCuda ? "cuda" : "cpu")} time={clock.Elapsed.TotalMilliseconds:0.###} ms output_rms={rms:G6} -> {outputPath}"));
        return ExitCodes.Success;
    }
}
