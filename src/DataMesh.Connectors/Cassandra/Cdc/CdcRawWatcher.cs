namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>
/// Wakes the source's poll loop as soon as a <c>cdc_raw</c> directory changes — a segment linked or moved in, a
/// <c>_cdc.idx</c> written after the node synced its commit log — instead of at the next poll interval. The file system
/// reports the changes (inotify on Linux); where it cannot (no watcher available, its buffer overflowed), the poll
/// interval still applies, so a missed notification delays a poll and never loses an entry.
/// </summary>
/// <remarks>A change that arrives while the loop is busy is kept (one pending wake-up), so the next wait returns at
/// once and the loop polls again.</remarks>
internal sealed class CdcRawWatcher : IDisposable
{
    private readonly SemaphoreSlim _changed = new(0, 1);
    private readonly List<FileSystemWatcher> _watchers = [];

    public CdcRawWatcher(IEnumerable<string> directories, Action<string, Exception> unavailable)
    {
        foreach (var directory in directories)
        {
            FileSystemWatcher? watcher = null;
            try
            {
                watcher = new FileSystemWatcher(directory)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                    IncludeSubdirectories = false,
                };
                watcher.Created += (_, _) => Wake();
                watcher.Changed += (_, _) => Wake();
                watcher.Renamed += (_, _) => Wake();
                var reported = 0;
                watcher.Error += (_, e) =>
                {
                    // On Linux a watch the kernel refuses (fs.inotify.max_user_watches reached, no permission) arrives here,
                    // not as an exception; a buffer overflow only means changes were missed: a poll reads them anyway.
                    if (e.GetException() is not InternalBufferOverflowException && Interlocked.Exchange(ref reported, 1) == 0)
                    {
                        unavailable(directory, e.GetException());
                    }

                    Wake();
                };
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
            catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
            {
                // For example the inotify limit (fs.inotify.max_user_instances) is reached: polling alone still works.
                watcher?.Dispose();
                unavailable(directory, e);
            }
        }
    }

    /// <summary>Waits until a directory changed since the last wait, or <paramref name="interval"/> passed.</summary>
    public Task WaitAsync(TimeSpan interval, CancellationToken cancellationToken) => _changed.WaitAsync(interval, cancellationToken);

    private void Wake()
    {
        try
        {
            if (_changed.CurrentCount == 0)
            {
                _changed.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another change woke it meanwhile.
        }
        catch (ObjectDisposedException)
        {
            // An event raised while the watcher is disposed.
        }
    }

    public void Dispose()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _changed.Dispose();
    }
}
