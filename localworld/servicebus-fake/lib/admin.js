'use strict';
// A small HTTP API beside the broker, for tests: create and delete queues at
// run time (the emulator only reads Config.json at start) and read their
// message counts, so a test can wait for a state instead of sleeping.
//
//   GET    /health                 200 when the broker is up
//   PUT    /queues/{name}          body {"Properties": {...}} as in Config.json; 201, or 409 if it exists
//   GET    /queues/{name}          {"name", "active", "locked", "scheduled", "deadLetter"}
//   DELETE /queues/{name}          204

const http = require('http');
const config = require('./config.js');

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function handler(broker) {
  return (req, res) => {
    const url = new URL(req.url, 'http://fake');
    if (url.pathname === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    const m = /^\/queues\/([^/]+)$/.exec(url.pathname);
    if (!m) return send(res, 404, { error: 'the admin API has GET /health and PUT|GET|DELETE /queues/{name}' });
    const name = decodeURIComponent(m[1]);
    if (req.method === 'GET') {
      const q = broker.queue(name);
      return q ? send(res, 200, Object.assign({ name: q.name }, q.counts())) : send(res, 404, { error: `no queue ${name}` });
    }
    if (req.method === 'DELETE') return broker.deleteQueue(name) ? send(res, 204) : send(res, 404, { error: `no queue ${name}` });
    if (req.method !== 'PUT') return send(res, 405, { error: 'use GET, PUT or DELETE' });
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      let doc;
      try {
        doc = body ? JSON.parse(body) : {};
      } catch (e) {
        return send(res, 400, { error: `body is not JSON: ${e.message}` });
      }
      if (!config.validName(name)) return send(res, 400, { error: `${JSON.stringify(name)} is not a valid queue name` });
      const problems = [];
      const settings = config.queueProperties(`queue ${name}`, doc.Properties, problems);
      if (problems.length) return send(res, 400, { error: problems.join('; ') });
      if (!broker.createQueue(name, settings)) return send(res, 409, { error: `queue ${name} exists` });
      broker.log('create-queue', { queue: name });
      return send(res, 201, { name });
    });
  };
}

// listen serves the admin API on host:port; it resolves to the server.
function listen(broker, host, port) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler(broker));
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { listen };
