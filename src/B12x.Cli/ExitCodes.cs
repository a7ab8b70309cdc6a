namespace B12x.Cli;

/// <summary>The process exit codes of every command.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Success = 0;

    /// <summary>The command failed at run time: a malformed file, an operator error, an I/O error.</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong: unknown option, missing or invalid value, inconsistent sizes.</summary>
    public const int Usage = 2;
}
