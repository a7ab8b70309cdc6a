using System;
using System.IO;
using System.IO.Compression;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// Where the bytes of a loaded layer file can be read again exactly as they were loaded: a file, or an entry of a
/// saved transformer's zip. The container's length and last-write time are recorded at load, so a file that changed
/// since is detected instead of being saved in place of the weights in memory.
/// </summary>
internal sealed record LayerFileSource(string Path, string? ZipEntry, long Length, DateTime LastWriteTimeUtc)
{
    /// <summary>A plain layer file.</summary>
    public static LayerFileSource OfFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"The layer file {path} does not exist.", path);
        }
        return new LayerFileSource(info.FullName, null, info.Length, info.LastWriteTimeUtc);
    }

    /// <summary>The entry <paramref name="entry"/> of the zip file <paramref name="zipPath"/>.</summary>
    public static LayerFileSource OfZipEntry(string zipPath, string entry)
    {
        var info = new FileInfo(zipPath);
        return new LayerFileSource(info.FullName, entry, info.Length, info.LastWriteTimeUtc);
    }

    /// <summary>"PATH" or "PATH!ENTRY", for messages.</summary>
    public string Description => ZipEntry is null ? Path : $"{Path}!{ZipEntry}";

    /// <summary>Copies the layer file's bytes to <paramref name="destination"/>.</summary>
    /// <exception cref="InvalidOperationException">The file changed or disappeared since the weights were loaded.</exception>
    public void CopyTo(Stream destination)
    {
        var info = new FileInfo(Path);
        if (!info.Exists || info.Length != Length || info.LastWriteTimeUtc != LastWriteTimeUtc)
        {
            throw new InvalidOperationException(
                $"The layer file {Description} changed or disappeared since the weights were loaded from it, so it no longer " +
                "holds the weights in memory; load the weights again before saving.");
        }
        if (ZipEntry is null)
        {
            using FileStream file = File.OpenRead(Path);
            file.CopyTo(destination);
            return;
        }
        using ZipArchive zip = ZipFile.OpenRead(Path);
        ZipArchiveEntry entry = zip.GetEntry(ZipEntry)
            ?? throw new InvalidOperationException($"The zip file {Path} no longer holds the layer file entry '{ZipEntry}'.");
        using Stream stream = entry.Open();
        stream.CopyTo(destination);
    }
}
