using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.TorchSharp;

/// <summary>
/// Argument checks on tensors. Each failure is an <see cref="ArgumentException"/> that names the parameter, what was
/// expected and what came.
/// </summary>
internal static class TensorChecks
{
    /// <summary>LibTorch's float8_e4m3fn, which TorchSharp 0.107's enum does not name.</summary>
    public const ScalarType Float8E4M3 = (ScalarType)24;

    public static Tensor NotNull(Tensor? tensor, string name)
    {
        if (tensor is null)
        {
            throw new ArgumentNullException(name, $"{name} is required.");
        }
        if (tensor.IsInvalid)
        {
            throw new ArgumentException($"{name} has been disposed.", name);
        }
        return tensor;
    }

    /// <summary>Checks the dtype against <paramref name="accepted"/> and returns it (read once for the caller).</summary>
    public static ScalarType Dtype(Tensor tensor, string name, params ReadOnlySpan<ScalarType> accepted)
    {
        ScalarType dtype = tensor.dtype;
        foreach (ScalarType type in accepted)
        {
            if (type == dtype)
            {
                return dtype;
            }
        }
        throw new ArgumentException(
            $"{name} must have dtype {string.Join(" or ", accepted.ToArray().Select(DtypeName))}; got {DtypeName(dtype)}.", name);
    }

    public static void Rank(Tensor tensor, string name, int rank)
    {
        if (tensor.dim() != rank)
        {
            throw new ArgumentException($"{name} must have rank {rank}; got shape {ShapeText(tensor.shape)}.", name);
        }
    }

    public static void Shape(Tensor tensor, string name, params ReadOnlySpan<long> expected)
    {
        if (!HasShape(tensor, expected))
        {
            throw new ArgumentException($"{name} must have shape {ShapeText(expected)}; got {ShapeText(tensor.shape)}.", name);
        }
    }

    /// <summary>
    /// Whether the tensor's sizes are <paramref name="expected"/>, read one dimension at a time: TorchSharp's
    /// <c>shape</c> property builds a new array on every read and costs tens of times a size query, which adds up
    /// on a call path that validates a dozen tensors per layer call.
    /// </summary>
    public static bool HasShape(Tensor tensor, ReadOnlySpan<long> expected)
    {
        if (tensor.dim() != expected.Length)
        {
            return false;
        }
        for (int axis = 0; axis < expected.Length; axis++)
        {
            if (tensor.size(axis) != expected[axis])
            {
                return false;
            }
        }
        return true;
    }

    public static void Contiguous(Tensor tensor, string name)
    {
        if (!tensor.is_contiguous())
        {
            throw new ArgumentException(
                $"{name} must be contiguous (row-major); got strides {ShapeText(tensor.stride())} for shape {ShapeText(tensor.shape)}. Call .contiguous() first.",
                name);
        }
    }

    public static void SameDevice(Tensor tensor, string name, Device device)
    {
        if (tensor.device_type != device.type || (device.type == DeviceType.CUDA && tensor.device_index != device.index))
        {
            throw new ArgumentException($"{name} must be on {device} like x; got {tensor.device}.", name);
        }
    }

    /// <summary>
    /// Dimension <paramref name="axis"/> of a tensor as an int; sizes are int throughout the operator, and a tensor
    /// with no elements (or an expanded view) can claim any size without holding memory.
    /// </summary>
    public static int Dimension(Tensor tensor, string name, int axis)
    {
        long size = tensor.size(axis);
        if (size > int.MaxValue)
        {
            throw new ArgumentException(
                $"{name}.shape[{axis}] must be at most {int.MaxValue}; got shape {ShapeText(tensor.shape)}.", name);
        }
        return (int)size;
    }

    public static string ShapeText(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    public static string DtypeName(ScalarType type) => type == Float8E4M3 ? "Float8_e4m3fn" : type.ToString();
}
