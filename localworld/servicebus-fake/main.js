#!/usr/bin/env node
'use strict';
// servicebus-fake: a local stand-in for Azure Service Bus that the real
// azservicebus client can use, for machines without Docker (the official
// emulator needs it). See README.md.

const path = require('path');
const config = require('./lib/config.js');
const { Broker } = require('./lib/broker.js');
const admin = require('./lib/admin.js');

const USAGE = `usage: node localworld/servicebus-fake/main.js [options]
  --config FILE      queues, in the emulator's Config.json shape (default: config.json beside main.js)
  --host HOST        address to listen on (default 127.0.0.1)
  --port PORT        AMQP port (default 5672; 0 picks a free one)
  --admin-port PORT  also serve the test admin API on this port (default: off)
  --log              print one line per operation (never message bodies)`;

function parseArgs(argv) {
  const opts = { config: path.join(__dirname, 'config.json'), host: '127.0.0.1', port: 5672, adminPort: null, log: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const port = () => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${a} ${JSON.stringify(v)} is not a TCP port (0-65535)`);
      return n;
    };
    if (a === '--config') opts.config = value();
    else if (a === '--host') opts.host = value();
    else if (a === '--port') opts.port = port();
    else if (a === '--admin-port') opts.adminPort = port();
    else if (a === '--log') opts.log = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  return opts;
}

// logger prints op and its fields as one line: time, op, key=value...
function logger(enabled) {
  if (!enabled) return () => {};
  return (op, fields) => {
    const kv = Object.entries(fields || {}).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    process.stdout.write(`${new Date().toISOString()} ${op} ${kv.join(' ')}\n`);
  };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`servicebus-fake: ${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let cfg;
  try {
    cfg = config.load(opts.config);
  } catch (e) {
    process.stderr.write(`servicebus-fake: ${e.message}\n`);
    process.exit(2);
  }
  const broker = new Broker(cfg, logger(opts.log));
  const servers = [];
  try {
    servers.push(await broker.listen(opts.host, opts.port));
    if (opts.adminPort !== null) servers.push(await admin.listen(broker, opts.host, opts.adminPort));
  } catch (e) {
    process.stderr.write(`servicebus-fake: listen: ${e.message}\n`);
    process.exit(1);
  }
  const amqpPort = servers[0].address().port;
  const adminNote = servers[1] ? `, admin API on http://${opts.host}:${servers[1].address().port}` : '';
  process.stdout.write(`servicebus-fake: listening on amqp://${opts.host}:${amqpPort} (namespace ${cfg.namespace}, queues ${cfg.queues.map((q) => q.name).join(', ') || 'none'})${adminNote}\n`);
  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
