using System;

namespace Microsoft.ML.B12x;

/// <summary>
/// FlashInfer's lower-case spellings of the operator's modes, used by the options factory, layer-file metadata and
/// the CLI. Parsing is case-sensitive, as in FlashInfer.
/// </summary>
public static class ModeSpellings
{
    /// <summary>"silu" | "relu2".</summary>
    public static MoeActivation ParseActivation(string value, string parameterName) => value switch
    {
        "silu" => MoeActivation.Silu,
        "relu2" => MoeActivation.Relu2,
        _ => throw Unknown(parameterName, value, "'silu', 'relu2'"),
    };

    /// <summary>"nvfp4" | "w4a4" | "fp4" → NVFP4; "w4a16" | "bf16" → W4A16.</summary>
    public static MoeQuantMode ParseQuantMode(string value, string parameterName) => value switch
    {
        "nvfp4" or "w4a4" or "fp4" => MoeQuantMode.Nvfp4,
        "w4a16" or "bf16" => MoeQuantMode.W4A16,
        _ => throw Unknown(parameterName, value, "'nvfp4', 'w4a4', 'fp4', 'w4a16', 'bf16'"),
    };

    /// <summary>"fp4" | "nvfp4" | "w4a4" → NVFP4; "bf16" | "w4a16" → W4A16.</summary>
    public static MoeQuantMode ParseActivationPrecision(string value, string parameterName) => value switch
    {
        "fp4" or "nvfp4" or "w4a4" => MoeQuantMode.Nvfp4,
        "bf16" or "w4a16" => MoeQuantMode.W4A16,
        _ => throw Unknown(parameterName, value, "'fp4', 'nvfp4', 'w4a4', 'bf16', 'w4a16'"),
    };

    /// <summary>"modelopt" | "compressed_tensors".</summary>
    public static MoeSourceFormat ParseSourceFormat(string value, string parameterName) => value switch
    {
        "modelopt" => MoeSourceFormat.ModelOpt,
        "compressed_tensors" => MoeSourceFormat.CompressedTensors,
        _ => throw Unknown(parameterName, value, "'modelopt', 'compressed_tensors'"),
    };

    /// <summary>"swizzled128x4" | "linear".</summary>
    public static ScaleLayout ParseScaleLayout(string value, string parameterName) => value switch
    {
        "swizzled128x4" => ScaleLayout.Swizzled128x4,
        "linear" => ScaleLayout.Linear,
        _ => throw Unknown(parameterName, value, "'swizzled128x4', 'linear'"),
    };

    /// <summary>"auto" | "micro" | "static" | "dynamic".</summary>
    public static KernelStrategy ParseStrategy(string value, string parameterName) => value switch
    {
        "auto" => KernelStrategy.Auto,
        "micro" => KernelStrategy.Micro,
        "static" => KernelStrategy.Static,
        "dynamic" => KernelStrategy.Dynamic,
        _ => throw Unknown(parameterName, value, "'auto', 'micro', 'static', 'dynamic'"),
    };

    /// <summary>"auto" | "cpu" | "cuda".</summary>
    public static ComputeDevice ParseDevice(string value, string parameterName) => value switch
    {
        "auto" => ComputeDevice.Auto,
        "cpu" => ComputeDevice.Cpu,
        "cuda" => ComputeDevice.Cuda,
        _ => throw Unknown(parameterName, value, "'auto', 'cpu', 'cuda'"),
    };

    /// <summary>The canonical spelling of an activation.</summary>
    public static string ToSpelling(MoeActivation value) => value == MoeActivation.Silu ? "silu" : "relu2";

    /// <summary>The canonical spelling of a quantisation mode.</summary>
    public static string ToSpelling(MoeQuantMode value) => value == MoeQuantMode.Nvfp4 ? "nvfp4" : "w4a16";

    /// <summary>The canonical spelling of a source format.</summary>
    public static string ToSpelling(MoeSourceFormat value) =>
        value == MoeSourceFormat.ModelOpt ? "modelopt" : "compressed_tensors";

    /// <summary>The canonical spelling of a scale layout.</summary>
    public static string ToSpelling(ScaleLayout value) => value == ScaleLayout.Swizzled128x4 ? "swizzled128x4" : "linear";

    private static ArgumentException Unknown(string parameterName, string value, string accepted) =>
        new($"Unknown {parameterName} '{value}'; expected one of {accepted}.", parameterName);
}
