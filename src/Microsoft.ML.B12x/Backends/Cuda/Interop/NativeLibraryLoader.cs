using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary>
/// Finds and loads the native CUDA library once per process, in this order: the path in the environment variable
/// <c>B12X_NATIVE_LIB</c>; the application's <c>runtimes/&lt;rid&gt;/native</c> assets; the folder of this
/// assembly; the system's default search (LD_LIBRARY_PATH). Every attempt and the loader's own error text are kept,
/// so a failure explains itself. Once loaded, the choice is fixed for the process.
/// </summary>
internal static class NativeLibraryLoader
{
    /// <summary>The environment variable that names the library file to load.</summary>
    public const string PathVariable = "B12X_NATIVE_LIB";

    private static readonly Lazy<LoadResult> s_result = new(Load);

    private sealed record LoadResult(IntPtr Handle, string? Path, string? Failure);

    static NativeLibraryLoader()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
    }

    /// <summary>Whether the library is loaded (loading it on first call).</summary>
    public static bool IsLoaded => s_result.Value.Handle != IntPtr.Zero;

    /// <summary>The loaded file, or null.</summary>
    public static string? LoadedPath => s_result.Value.Path;

    /// <summary>Why loading failed, with every attempt; null when loaded.</summary>
    public static string? Failure => s_result.Value.Failure;

    /// <summary>Loads the library or throws <see cref="NotSupportedException"/> saying what was tried and what to do.</summary>
    public static void EnsureLoaded()
    {
        LoadResult result = s_result.Value;
        if (result.Handle == IntPtr.Zero)
        {
            throw new NotSupportedException(result.Failure);
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == NativeMethods.LibraryName ? s_result.Value.Handle : IntPtr.Zero;

    private static LoadResult Load()
    {
        var attempts = new List<string>();
        foreach (string candidate in Candidates())
        {
            try
            {
                IntPtr handle = NativeLibrary.Load(candidate);
                int abi = AbiVersionOf(handle);
                if (abi != NativeMethods.AbiVersion)
                {
                    NativeLibrary.Free(handle);
                    attempts.Add($"{candidate}: ABI version {abi}, this assembly needs {NativeMethods.AbiVersion}");
                    continue;
                }
                return new LoadResult(handle, candidate, null);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
            {
                attempts.Add($"{candidate}: {e.Message}");
            }
        }
        string failure =
            "The native CUDA library (libb12x.so) could not be loaded. Tried:" + Environment.NewLine + "  " +
            string.Join(Environment.NewLine + "  ", attempts) + Environment.NewLine +
            $"Build it with CMake (cmake -S native -B native/build && cmake --build native/build) and set {PathVariable} " +
            "to the built file, or ship it in the application's runtimes/<rid>/native folder.";
        return new LoadResult(IntPtr.Zero, null, failure);
    }

    private static int AbiVersionOf(IntPtr handle)
    {
        IntPtr export = NativeLibrary.GetExport(handle, "b12x_abi_version_get");
        unsafe
        {
            return ((delegate* unmanaged<int>)export)();
        }
    }

    private static IEnumerable<string> Candidates()
    {
        string? configured = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            yield return configured;
        }
        string fileName = OperatingSystem.IsWindows() ? "b12x.dll" : "libb12x.so";
        string rid = RuntimeInformation.RuntimeIdentifier;
        string portableRid = (OperatingSystem.IsWindows() ? "win-" : "linux-") +
                             RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        foreach (string r in rid == portableRid ? new[] { rid } : new[] { rid, portableRid })
        {
            yield return Path.Combine(AppContext.BaseDirectory, "runtimes", r, "native", fileName);
        }
        string? assemblyFolder = Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyFolder))
        {
            yield return Path.Combine(assemblyFolder, fileName);
        }
        yield return fileName; // the system's own search path
    }
}
