'use strict';
// The $management node of an entity: the request/response operations
// azservicebus v1.11 uses (schedule, cancel, renew-lock, peek,
// update-disposition). Status codes are AMQP int (int32) and arrays are
// typed, as the client type-asserts both.

const rhea = require('rhea');
const msgs = require('./message.js');

const T = rhea.types;
const LONG = 0x81;
const TIMESTAMP = 0x83;

function respond(status, description, body, condition) {
  const props = { 'status-code': T.wrap_int(status), 'status-description': description };
  if (condition) props['error-condition'] = T.wrap_symbol(condition);
  return { application_properties: props, body };
}

const lockLost = () => respond(410, 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.', undefined, 'com.microsoft:message-lock-lost');
const badRequest = (what) => respond(400, what, undefined, 'com.microsoft:argument-error');

function tokens(list) {
  return (Array.isArray(list) ? list : []).map((b) => (Buffer.isBuffer(b) ? rhea.uuid_to_string(b) : String(b)));
}

function numbers(list) {
  return (Array.isArray(list) ? list : []).map(Number);
}

// operations maps an operation name to its handler(entity, body).
const operations = {
  'com.microsoft:schedule-message'(entity, body) {
    if (entity.deadLetterOf) return respond(400, 'Cannot schedule messages on a dead-letter queue.', undefined, 'amqp:not-allowed');
    const list = body && body.messages;
    if (!Array.isArray(list) || list.length === 0) return badRequest('"messages" must be a non-empty list');
    const parsed = [];
    for (const item of list) {
      if (!item || !Buffer.isBuffer(item.message)) return badRequest('each entry of "messages" needs a binary "message"');
      parsed.push(msgs.parse(item.message));
    }
    const seqs = [];
    for (const m of parsed) {
      const at = msgs.annotation(m, 'x-opt-scheduled-enqueue-time');
      if (!(at instanceof Date)) return badRequest('a scheduled message needs the x-opt-scheduled-enqueue-time annotation');
      const [seq] = entity.enqueue([m], at.getTime());
      seqs.push(seq === null ? entity.nextSeq++ : seq);
    }
    return respond(200, 'OK', { 'sequence-numbers': T.wrap_array(seqs, LONG) });
  },

  'com.microsoft:cancel-scheduled-message'(entity, body) {
    const missing = entity.cancel(numbers(body && body['sequence-numbers']));
    if (missing.length) return respond(404, `The scheduled message with sequence number ${missing[0]} was not found.`, undefined, 'com.microsoft:message-not-found');
    return respond(200, 'OK', {});
  },

  'com.microsoft:renew-lock'(entity, body) {
    const until = [];
    for (const token of tokens(body && body['lock-tokens'])) {
      const t = entity.renew(token);
      if (t === null) return lockLost();
      until.push(t);
    }
    return respond(200, 'OK', { expirations: T.wrap_array(until, TIMESTAMP) });
  },

  'com.microsoft:peek-message'(entity, body) {
    const from = Number((body && body['from-sequence-number']) || 0);
    const count = Number((body && body['message-count']) || 1);
    const found = entity.peek(from, count);
    if (found.length === 0) return respond(204, 'No Content');
    return respond(200, 'OK', { messages: found.map((b) => ({ message: b })) });
  },

  'com.microsoft:update-disposition'(entity, body) {
    const status = body && body['disposition-status'];
    const kinds = { completed: 'complete', abandoned: 'abandon', suspended: 'dead-letter' };
    if (!kinds[status]) return respond(501, `disposition-status ${JSON.stringify(status)} is not supported by the fake (deferral is not implemented)`, undefined, 'amqp:not-implemented');
    const outcome = { kind: kinds[status], reason: body['deadletter-reason'], description: body['deadletter-description'], props: body['properties-to-modify'] };
    for (const token of tokens(body['lock-tokens'])) {
      if (!entity.settle(token, outcome)) return lockLost();
    }
    return respond(200, 'OK', {});
  },
};

// handle answers one request on entity's $management node.
function handle(entity, request) {
  const op = request.application_properties && request.application_properties.operation;
  const fn = operations[op];
  if (!fn) return respond(501, `operation ${JSON.stringify(op)} is not implemented by the Service Bus fake`, undefined, 'amqp:not-implemented');
  try {
    return fn(entity, request.body);
  } catch (e) {
    return badRequest(`malformed ${op} request: ${e.message}`);
  }
}

module.exports = { handle, respond };
