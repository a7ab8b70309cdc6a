using System;

namespace Microsoft.ML.B12x;

/// <summary>
/// A failure inside the native CUDA library: a launch or argument error, out-of-memory, or a sticky CUDA error that
/// has poisoned the process's CUDA context (<see cref="IsContextLost"/>).
/// </summary>
public sealed class B12xNativeException : Exception
{
    /// <summary>Creates the exception for a native status code and its message.</summary>
    public B12xNativeException(int status, string statusName, string message, bool isContextLost = false)
        : base($"{statusName} ({status}): {message}")
    {
        Status = status;
        StatusName = statusName;
        IsContextLost = isContextLost;
    }

    /// <summary>The native <c>b12x_status_t</c> value.</summary>
    public int Status { get; }

    /// <summary>The status constant's name, e.g. <c>B12X_STATUS_CUDA_ERROR</c>.</summary>
    public string StatusName { get; }

    /// <summary>
    /// True when CUDA reported a sticky error (e.g. an illegal address): every later CUDA call in this process fails;
    /// restart the process.
    /// </summary>
    public bool IsContextLost { get; }
}
