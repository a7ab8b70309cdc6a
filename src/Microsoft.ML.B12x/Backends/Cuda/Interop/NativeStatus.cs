namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary><c>b12x_status_t</c>.</summary>
internal enum NativeStatus
{
    Success = 0,
    InvalidArgument = 1,
    Unsupported = 2,
    WorkspaceTooSmall = 3,
    CudaError = 4,
    CudaContextLost = 5,
    OutOfMemory = 6,
    Internal = 7,
}

/// <summary><c>b12x_strategy_t</c>.</summary>
internal enum NativeStrategy
{
    Auto = 0,
    Micro = 1,
    Static = 2,
    Dynamic = 3,
    Reference = 4,
}
