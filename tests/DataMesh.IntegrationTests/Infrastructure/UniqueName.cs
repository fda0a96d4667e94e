namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>Names a test owns: a prefix and a GUID, lower case, valid unquoted in PostgreSQL and MariaDB.</summary>
public static class UniqueName
{
    /// <summary>At most 63 characters (PostgreSQL's identifier limit), so the prefix is at most 30.</summary>
    public static string Create(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (prefix.Length > 30 || !prefix.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
        {
            throw new ArgumentException("a prefix is 1-30 characters of a-z, 0-9 and _", nameof(prefix));
        }

        return $"{prefix}_{Guid.NewGuid():N}";
    }
}
