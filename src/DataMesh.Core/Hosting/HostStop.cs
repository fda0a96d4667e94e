using Microsoft.Extensions.Hosting;

namespace DataMesh.Hosting;

/// <summary>How a fatal error stops the host: exit code 1 (unless another failure set one first), then a graceful stop.</summary>
internal static class HostStop
{
    /// <summary>Sets exit code 1 when none is set and asks the host to stop, if there is a host.</summary>
    public static void AfterFatalError(IHostApplicationLifetime? lifetime)
    {
        if (Environment.ExitCode == 0)
        {
            Environment.ExitCode = 1;
        }

        lifetime?.StopApplication();
    }
}
