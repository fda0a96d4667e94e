using DataMesh.Cli;

return await CliCommands.RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);
