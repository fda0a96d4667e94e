// Consumes every record of the given topics with kafkajs and decodes key and value with
// @kafkajs/confluent-schema-registry through a Schema Registry URL, printing one JSON line per record:
//   {"topic":..,"partition":..,"offset":"..","key":<decoded or null>,"value":<decoded or null>}
// Bytes (Avro bytes/fixed, decimals) are printed as {"$bytes":"<base64>"}; everything else as avsc decodes it.
// Usage: node decode-topics.js BOOTSTRAP REGISTRY_URL COUNT TOPIC [TOPIC ...]
// Exits 0 after COUNT records, 1 (saying how many arrived) after 60 s without them.
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry');

const [bootstrap, registryUrl, countText, ...topics] = process.argv.slice(2);
const expected = Number(countText);
if (!bootstrap || !registryUrl || !(expected > 0) || topics.length === 0) {
  console.error('usage: node decode-topics.js BOOTSTRAP REGISTRY_URL COUNT TOPIC [TOPIC ...]');
  process.exit(2);
}

const registry = new SchemaRegistry({ host: registryUrl });
const kafka = new Kafka({ clientId: 'datamesh-node-check', brokers: bootstrap.split(','), logLevel: logLevel.ERROR });
const consumer = kafka.consumer({ groupId: `datamesh-node-${process.pid}-${Date.now()}` });

const plain = (value) => {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [name, field] of Object.entries(value)) out[name] = plain(field);
    return out;
  }
  return value;
};

const decode = async (buffer) => (buffer === null ? null : plain(await registry.decode(buffer)));

async function main() {
  let seen = 0;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const timer = setTimeout(() => finish(false), 60_000);
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const line = { topic, partition, offset: message.offset, key: await decode(message.key), value: await decode(message.value) };
      process.stdout.write(JSON.stringify(line) + '\n');
      if (++seen >= expected) finish(true);
    },
  });
  const complete = await done;
  clearTimeout(timer);
  await consumer.disconnect();
  if (!complete) {
    console.error(`only ${seen} of ${expected} records arrived within 60 s from ${topics.join(', ')}`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
