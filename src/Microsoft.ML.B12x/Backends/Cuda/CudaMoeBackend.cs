using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cuda;

/// <summary>The native CUDA backend.</summary>
internal sealed class CudaMoeBackend : IMoeBackend
{
    public static CudaMoeBackend Instance { get; } = new();

    public string Name => "cuda";

    public static int CurrentDeviceIndex() => 0;

    public string? WhyNotSupported(MoeProblem problem) => "The CUDA backend is not available in this build.";

    public void Run(MoeProblem problem, Tensor output) => throw new System.NotSupportedException(WhyNotSupported(problem));
}
