using Microsoft.ML.B12x.Backends.Cuda.Interop;
using TorchSharp;

namespace Microsoft.ML.B12x;

/// <summary>
/// Whether the CUDA backend can run in this process: TorchSharp sees a GPU (a CUDA build of LibTorch and a driver)
/// and the native library (libb12x.so) loads. The library is searched for in the file named by the environment
/// variable <c>B12X_NATIVE_LIB</c>, then the application's <c>runtimes/&lt;rid&gt;/native</c> folder, then beside
/// this assembly, then on the system's library path.
/// </summary>
public static class CudaSupport
{
    /// <summary>True when CUDA tensors can be computed by the native kernels.</summary>
    public static bool IsAvailable => UnavailableReason is null;

    /// <summary>Why the CUDA backend cannot run (with every load attempt), or null when it can.</summary>
    public static string? UnavailableReason
    {
        get
        {
            if (!torch.cuda.is_available())
            {
                return "TorchSharp sees no CUDA device (no GPU, no driver, or a CPU-only LibTorch).";
            }
            return NativeLibraryLoader.IsLoaded ? null : NativeLibraryLoader.Failure;
        }
    }

    /// <summary>The native library file in use, or null when it did not load.</summary>
    public static string? NativeLibraryPath => NativeLibraryLoader.IsLoaded ? NativeLibraryLoader.LoadedPath : null;

    /// <summary>The name of a CUDA device, e.g. "NVIDIA H100 80GB HBM3".</summary>
    /// <exception cref="System.NotSupportedException">The native library did not load.</exception>
    public static string DeviceName(int device = 0) => NativeProxy.DeviceName(device);

    /// <summary>Free and total memory of a CUDA device in bytes (cudaMemGetInfo), e.g. to check for leaks.</summary>
    /// <exception cref="System.NotSupportedException">The native library did not load.</exception>
    public static (long FreeBytes, long TotalBytes) DeviceMemory(int device = 0) => NativeProxy.QueryMemory(device);

    /// <summary>The native library's version (MAJOR·10000 + MINOR·100 + PATCH), or null when it did not load.</summary>
    public static int? NativeLibraryVersion => NativeLibraryLoader.IsLoaded ? NativeProxy.Version() : null;
}
