using System;
using System.IO;
using System.Text;

namespace Microsoft.ML.B12x.Tests.IO.Safetensors;

/// <summary>
/// Writes safetensors bytes by hand (length prefix, header text, data) without the library's writer, so reader tests
/// see exactly the bytes they describe, malformed ones included.
/// </summary>
internal static class RawSafetensorsFile
{
    public static void Write(string path, string header, byte[] data) => Write(path, Encoding.UTF8.GetBytes(header), data);

    public static void Write(string path, byte[] header, byte[] data, ulong? declaredHeaderLength = null)
    {
        using var stream = File.Create(path);
        Span<byte> prefix = stackalloc byte[8];
        ulong length = declaredHeaderLength ?? (ulong)header.Length;
        for (int i = 0; i < 8; i++)
        {
            prefix[i] = (byte)(length >> (8 * i)); // little-endian by hand
        }
        stream.Write(prefix);
        stream.Write(header);
        stream.Write(data);
    }
}
