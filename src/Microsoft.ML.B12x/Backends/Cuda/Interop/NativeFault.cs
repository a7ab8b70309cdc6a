namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary><c>b12x_fault_t</c>: the CUDA failures the native test hook can inject.</summary>
internal enum NativeFault
{
    /// <summary>Disarms.</summary>
    None = 0,

    /// <summary>A kernel launch the runtime refuses: a non-sticky error, later calls keep working.</summary>
    LaunchConfiguration = 1,

    /// <summary>A kernel that writes through an invalid pointer: a sticky error that loses the process's CUDA context.</summary>
    IllegalAddress = 2,
}
