using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using B12x.Cli.Synthesis;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x synth</c>: writes a random layer file and inputs file (see <see cref="LayerSynthesizer"/> for how they are
/// drawn); the same arguments and seed give byte-identical files.
/// </summary>
internal static class SynthCommand
{
    /// <summary>The layer file's name in the output directory.</summary>
    public const string LayerFileName = "layer.safetensors";

    /// <summary>The inputs file's name in the output directory.</summary>
    public const string InputsFileName = "inputs.safetensors";

    public static Command Create()
    {
        var outputDirectory = new Option<DirectoryInfo>("--output-dir")
        {
            Description = $"Directory for {LayerFileName} and {InputsFileName} (created if missing; existing files are replaced).",
            Required = true,
            HelpName = "dir",
        };
        Option<int> hidden = CommonOptions.Size("--hidden", "H, the hidden size (a multiple of 16).", minimum: 16, multipleOf: 16);
        Option<int> intermediate = CommonOptions.Size("--intermediate", "I, the intermediate size of one expert (a multiple of 16).", minimum: 16, multipleOf: 16);
        Option<int> experts = CommonOptions.Size("--experts", "E, the number of experts.");
        Option<int> topK = CommonOptions.Size("--top-k", "K, the experts each token is routed to (at most E; no expert twice).");
        Option<int> tokens = CommonOptions.Size("--tokens", "T, the number of tokens in the inputs file.");
        SpellingOption<MoeActivation> activation = CommonOptions.Spelling("--activation", "silu or relu2.", "silu", ModeSpellings.ParseActivation);
        SpellingOption<MoeQuantMode> quantMode = CommonOptions.Spelling(
            "--quant-mode", "nvfp4 (activations quantised to FP4; also w4a4, fp4) or w4a16 (bf16 activations; also bf16).", "nvfp4",
            ModeSpellings.ParseQuantMode);
        SpellingOption<ScaleLayout> scaleLayout = CommonOptions.Spelling(
            "--scale-layout", "Block-scale layout in the layer file: swizzled128x4 or linear.", "swizzled128x4", ModeSpellings.ParseScaleLayout);
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed gives identical files. Default: 0.", HelpName = "n" };

        var command = new Command("synth", "Write a random NVFP4 layer file and inputs file (weights quantised with ModelOpt's recipe).")
        {
            outputDirectory, hidden, intermediate, experts, topK, tokens, activation, quantMode, scaleLayout, seed,
        };
        command.Validators.Add(result =>
        {
            if (CommonOptions.ValidSize(result, experts) is int e && CommonOptions.ValidSize(result, topK) is int k && k > e)
            {
                result.AddError($"--top-k must be at most --experts = {e} (a token never routes to one expert twice); got {k}.");
            }
        });
        command.SetAction(parse =>
        {
            var spec = new SynthesisSpec(
                parse.GetValue(hidden), parse.GetValue(intermediate), parse.GetValue(experts), parse.GetValue(topK), parse.GetValue(tokens),
                activation.GetValue(parse), quantMode.GetValue(parse), scaleLayout.GetValue(parse), parse.GetValue(seed));
            return Execute(spec, parse.GetRequiredValue(outputDirectory), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    private static int Execute(SynthesisSpec spec, DirectoryInfo directory, TextWriter output, TextWriter error)
    {
        directory.Create();
        string layerPath = Path.Combine(directory.FullName, LayerFileName);
        string inputsPath = Path.Combine(directory.FullName, InputsFileName);
        (MoeLayerData layer, MoeInputs inputs) = LayerSynthesizer.Create(spec);
        using (layer)
        using (inputs)
        {
            long layerBytes = layer.W1Weight.numel() + layer.W2Weight.numel() + layer.W1WeightSf.numel() + layer.W2WeightSf.numel();
            var provenance = new Dictionary<string, string> { ["generator"] = Describe(spec) };
            LayerFile.Save(layerPath, layer, provenance, new FileProgress(error, LayerFileName, layerBytes));
            InputsFile.Save(inputsPath, inputs, new FileProgress(error, InputsFileName, inputs.X.numel() * 2));
        }
        output.WriteLine($"wrote {layerPath}");
        output.WriteLine($"wrote {inputsPath}");
        return ExitCodes.Success;
    }

    /// <summary>The arguments that reproduce the files, stored in the layer file's metadata.</summary>
    private static string Describe(SynthesisSpec spec) => string.Create(CultureInfo.InvariantCulture,
        $"b12x synth --hidden {spec.Hidden} --intermediate {spec.Intermediate} --experts {spec.Experts} --top-k {spec.TopK} " +
        $"--tokens {spec.Tokens} --activation {ModeSpellings.ToSpelling(spec.Activation)} --quant-mode {ModeSpellings.ToSpelling(spec.QuantMode)} " +
        $"--scale-layout {ModeSpellings.ToSpelling(spec.ScaleLayout)} --seed {spec.Seed}");
}
