namespace Microsoft.ML.B12x.Tests.Reference;

/// <summary>The swizzled 128×4 scale storage built from semantics.md's offset formula, for tests only.</summary>
internal static class ReferenceSwizzle
{
    /// <summary>Linear [E, N, C/16] scale bytes to swizzled storage of E·Np·Cbp bytes (padding zero).</summary>
    public static byte[] FromLinear(byte[] linear, int experts, int rows, int blocks)
    {
        int np = (rows + 127) / 128 * 128;
        int cbp = (blocks + 3) / 4 * 4;
        var storage = new byte[experts * np * cbp];
        for (int e = 0; e < experts; e++)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int b = 0; b < blocks; b++)
                {
                    int offset = e * np * cbp + r / 128 * (cbp * 128) + b / 4 * 512 + r % 32 * 16 + r % 128 / 32 * 4 + b % 4;
                    storage[offset] = linear[(e * rows + r) * blocks + b];
                }
            }
        }
        return storage;
    }
}
