using System;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Microsoft.ML.B12x.TorchSharp;

/// <summary>
/// Raw data pointers of TorchSharp tensors (CPU or CUDA), storage offset included. TorchSharp's public
/// <c>storage&lt;T&gt;().data_ptr()</c> converts on a dtype mismatch and ignores view offsets, so the native export
/// <c>THSTensor_data</c> of LibTorchSharp is called directly.
/// </summary>
internal static partial class TensorPointers
{
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>The address of the tensor's first element.</summary>
    public static IntPtr DataPointer(torch.Tensor tensor)
    {
        IntPtr pointer = THSTensor_data(tensor.Handle);
        if (pointer == IntPtr.Zero && tensor.numel() > 0)
        {
            torch.CheckForErrors();
            throw new InvalidOperationException("LibTorch returned a null data pointer for a non-empty tensor.");
        }
        return pointer;
    }

    /// <summary>The tensor's bytes as a read-only span (CPU tensors; the caller checked contiguity and size).</summary>
    public static unsafe ReadOnlySpan<T> HostSpan<T>(torch.Tensor tensor) where T : unmanaged
    {
        long bytes = tensor.numel() * tensor.element_size();
        long count = bytes / sizeof(T);
        return new ReadOnlySpan<T>((void*)DataPointer(tensor), checked((int)count));
    }

    /// <summary>The tensor's bytes as a writable span (CPU tensors; the caller checked contiguity and size).</summary>
    public static unsafe Span<T> HostSpanMutable<T>(torch.Tensor tensor) where T : unmanaged
    {
        long bytes = tensor.numel() * tensor.element_size();
        long count = bytes / sizeof(T);
        return new Span<T>((void*)DataPointer(tensor), checked((int)count));
    }

    /// <summary>
    /// <paramref name="count"/> elements of a contiguous CPU tensor starting at element <paramref name="start"/>, for
    /// tensors too large for one span (the caller checked the range).
    /// </summary>
    public static unsafe ReadOnlySpan<T> HostSlice<T>(torch.Tensor tensor, long start, int count) where T : unmanaged =>
        new((T*)DataPointer(tensor) + start, count);

    /// <summary>The writable form of <see cref="HostSlice{T}"/>.</summary>
    public static unsafe Span<T> HostSliceMutable<T>(torch.Tensor tensor, long start, int count) where T : unmanaged =>
        new((T*)DataPointer(tensor) + start, count);
}
