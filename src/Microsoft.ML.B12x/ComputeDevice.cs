namespace Microsoft.ML.B12x;

/// <summary>Where the operator runs.</summary>
public enum ComputeDevice
{
    /// <summary>
    /// CUDA tensors run on the CUDA backend; CPU tensors run on the CPU backend. When a CUDA call is not supported
    /// (a shape the kernels cannot serve, no native library), the work falls back to the CPU and the reason is logged.
    /// </summary>
    Auto,

    /// <summary>The C# CPU backend (CPU tensors only).</summary>
    Cpu,

    /// <summary>The native CUDA backend; CPU tensors are copied to the current CUDA device and the result back.</summary>
    Cuda,
}
