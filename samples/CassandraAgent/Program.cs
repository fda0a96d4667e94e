// The DataMesh agent that runs beside a Cassandra node: it serves the node's cdc_raw over HTTPS to a Cassandra source
// that reads every replica through its agent and publishes each write once (docs/cassandra.md, "Agents").
//
//   dotnet run --project samples/CassandraAgent -- \
//     --DataMesh:CassandraAgent:CdcRawDirectory=/var/lib/cassandra/cdc_raw \
//     --Kestrel:Endpoints:Https:Url=https://0.0.0.0:7480 \
//     --Kestrel:Endpoints:Https:Certificate:Path=/etc/datamesh/agent.crt \
//     --Kestrel:Endpoints:Https:Certificate:KeyPath=/etc/datamesh/agent.key
//
// with the token in the environment: DataMesh__CassandraAgent__Token=$(cat /etc/datamesh/agent.token)
using DataMesh;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddCassandraCdcAgent(builder.Configuration.GetSection(CassandraCdcAgentOptions.SectionName));
var app = builder.Build();
try
{
    app.MapCassandraCdcAgent();
    app.Run();
    return 0;
}
catch (OptionsValidationException ex)
{
    // Settings checked at start: each problem on its own line, then exit code 1.
    foreach (var failure in ex.Failures)
    {
        Console.Error.WriteLine(failure);
    }

    return 1;
}
