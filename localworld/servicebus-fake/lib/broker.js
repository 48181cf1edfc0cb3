'use strict';
// The AMQP side of the fake: connections (SASL ANONYMOUS, then CBS
// put-token), links to queues and their dead-letter queues, settlement in
// both receive modes, and the $cbs and $management request/response nodes.

const rhea = require('rhea');
const auth = require('./auth.js');
const management = require('./management.js');
const msgs = require('./message.js');
const { Entity } = require('./entity.js');

// Service Bus Standard's maximum message size.
const MAX_MESSAGE_SIZE = 262144;

// Incoming messages are kept as the bytes the client sent (see message.js);
// rhea hands the application only its decoded form, so keep the bytes too.
const decode = rhea.message.decode;
rhea.message.decode = function (buffer) {
  const m = decode(buffer);
  Object.defineProperty(m, 'raw', { value: buffer, enumerable: false });
  return m;
};

function linkError(condition, description) {
  return { condition, description };
}

class Broker {
  // config is config.js' result; log(op, fields) records one operation.
  constructor(config, log) {
    this.namespace = config.namespace;
    this.log = log;
    this.entities = new Map();
    for (const q of config.queues) this.createQueue(q.name, q.settings);
    this.container = rhea.create_container({ id: 'servicebus-fake', autoaccept: false, treat_modified_as_released: false, tcp_no_delay: true });
    this.wire(this.container);
  }

  // createQueue adds a queue; it returns false if one of that name exists.
  createQueue(name, settings) {
    const key = name.toLowerCase();
    if (this.entities.has(key)) return false;
    const q = new Entity(name, settings, this.log);
    this.entities.set(key, q);
    this.entities.set(q.dlq.name.toLowerCase(), q.dlq);
    return true;
  }

  // deleteQueue removes a queue and its dead-letter queue.
  deleteQueue(name) {
    const q = this.entities.get(name.toLowerCase());
    if (!q || q.deadLetterOf) return false;
    this.entities.delete(name.toLowerCase());
    this.entities.delete(q.dlq.name.toLowerCase());
    q.close();
    return true;
  }

  queue(name) {
    const q = this.entities.get(String(name).toLowerCase());
    return q && !q.deadLetterOf ? q : null;
  }

  // resolve maps a link address to {node: 'cbs'|'management'|'entity', entity}.
  resolve(address) {
    let path = String(address || '');
    const m = /^(?:amqps?|sb):\/\/[^/]+\/(.*)$/i.exec(path);
    if (m) path = m[1];
    path = path.replace(/\/+$/, '');
    if (path === '$cbs') return { node: 'cbs', path };
    let node = 'entity';
    if (/\/\$management$/i.test(path)) {
      node = 'management';
      path = path.slice(0, -'/$management'.length);
    }
    return { node, path, entity: this.entities.get(path.toLowerCase()) || null };
  }

  // admit checks that a link may attach to the entity at target; it
  // returns an AMQP error, or null.
  admit(connection, target, sending) {
    if (!target.entity) return linkError('amqp:not-found', `The messaging entity 'sb://${this.namespace}/${target.path}' could not be found.`);
    if (!auth.covers(connection.claims || [], target.node === 'management' ? `${target.path}/$management` : target.path, Date.now())) {
      return linkError('amqp:unauthorized-access', `Unauthorized access. '${sending ? 'Send' : 'Listen'}' claim(s) are required to perform this operation. Resource: 'sb://${this.namespace}/${target.path}'.`);
    }
    if (sending && target.node === 'entity' && target.entity.deadLetterOf) {
      return linkError('amqp:not-allowed', `Cannot send messages to the dead-letter queue '${target.path}'.`);
    }
    return null;
  }

  wire(c) {
    c.on('connection_open', (ctx) => {
      ctx.connection.claims = [];
      ctx.connection.consumers = [];
      this.log('connect', { peer: peer(ctx.connection) });
    });
    c.on('disconnected', (ctx) => this.dropConsumers(ctx.connection));
    c.on('connection_close', (ctx) => this.dropConsumers(ctx.connection));

    c.on('receiver_open', (ctx) => this.onReceiverOpen(ctx.receiver, ctx.connection));
    c.on('sender_open', (ctx) => this.onSenderOpen(ctx.sender, ctx.connection));
    c.on('message', (ctx) => this.onMessage(ctx));
    c.on('sendable', (ctx) => ctx.sender.entity && ctx.sender.entity.pump());
    c.on('sender_close', (ctx) => ctx.sender.entity && ctx.sender.entity.removeConsumer(ctx.sender));

    c.on('accepted', (ctx) => this.settle(ctx, { kind: 'complete' }));
    c.on('released', (ctx) => this.settle(ctx, { kind: 'release' }));
    c.on('modified', (ctx) => {
      const state = ctx.delivery.remote_state;
      if (state.undeliverable_here) return this.refuseSettlement(ctx, 'amqp:not-implemented', 'Deferring messages is not supported by the Service Bus fake.');
      this.settle(ctx, { kind: 'abandon', props: state.message_annotations });
    });
    c.on('rejected', (ctx) => {
      const err = ctx.delivery.remote_state.error || {};
      const info = err.info || {};
      const props = Object.assign({}, info);
      delete props.DeadLetterReason;
      delete props.DeadLetterErrorDescription;
      this.settle(ctx, { kind: 'dead-letter', reason: info.DeadLetterReason || err.condition, description: info.DeadLetterErrorDescription || err.description, props });
    });
    c.on('error', (e) => this.log('error', { error: e.message }));
    c.on('connection_error', () => {});
    c.on('protocol_error', (ctx) => this.log('protocol-error', { error: String(ctx.error) }));
  }

  dropConsumers(connection) {
    for (const link of connection.consumers || []) link.entity.removeConsumer(link);
    connection.consumers = [];
  }

  // onReceiverOpen: the client attached a sender (to an entity, $cbs or a
  // $management node).
  onReceiverOpen(link, connection) {
    const remote = link.remote.attach;
    const address = remote.target && remote.target.address;
    const target = this.resolve(address);
    echoAttach(link, remote);
    link.local.attach.max_message_size = MAX_MESSAGE_SIZE;
    link.node = target;
    if (target.node === 'cbs') return;
    const err = this.admit(connection, target, target.node === 'entity');
    if (err) return refuse(link, err, this.log, address);
    this.log('attach-sender', { entity: target.path, node: target.node });
  }

  // onSenderOpen: the client attached a receiver (entity, or the reply
  // link of a $cbs or $management client).
  onSenderOpen(link, connection) {
    const remote = link.remote.attach;
    const address = remote.source && remote.source.address;
    const target = this.resolve(address);
    echoAttach(link, remote);
    link.local.attach.max_message_size = MAX_MESSAGE_SIZE;
    if (target.node === 'cbs') return;
    const err = this.admit(connection, target, false);
    if (err) return refuse(link, err, this.log, address);
    if (target.node === 'management') return;
    const filter = remote.source && remote.source.filter;
    if (filter && Object.keys(filter).some((k) => /session-filter/.test(k))) {
      return refuse(link, linkError('amqp:not-implemented', 'Sessions are not supported by the Service Bus fake.'), this.log, address);
    }
    link.entity = target.entity;
    connection.consumers.push(link);
    const mode = link.local.attach.snd_settle_mode === 1 ? 'receive-and-delete' : 'peek-lock';
    this.log('attach-receiver', { entity: target.path, mode });
    target.entity.addConsumer(link);
  }

  onMessage(ctx) {
    const { receiver, delivery, message } = ctx;
    const target = receiver.node;
    if (!target) return delivery.accept();
    if (target.node === 'cbs') {
      delivery.accept();
      return this.reply(ctx.connection, message, this.putToken(ctx.connection, message));
    }
    if (target.node === 'management') {
      delivery.accept();
      return this.reply(ctx.connection, message, management.handle(target.entity, message));
    }
    let parsed;
    try {
      parsed = ctx.format === undefined ? [msgs.parse(Buffer.from(message.raw))] : msgs.unbatch(Buffer.from(message), ctx.format);
    } catch (e) {
      this.log('malformed', { entity: target.path, error: e.message });
      return delivery.reject({ condition: 'amqp:decode-error', description: `The message could not be decoded: ${e.message}` });
    }
    if (parsed.some((m) => m.size > MAX_MESSAGE_SIZE)) {
      return delivery.reject({ condition: 'amqp:link:message-size-exceeded', description: `The message is larger than ${MAX_MESSAGE_SIZE} bytes.` });
    }
    target.entity.enqueue(parsed);
    delivery.accept();
  }

  putToken(connection, request) {
    const p = request.application_properties || {};
    if (p.operation !== 'put-token') return management.respond(400, `unsupported $cbs operation ${JSON.stringify(p.operation)}; use put-token`);
    const r = auth.check(p.type, p.name, request.body, Date.now());
    if (r.status) {
      this.log('put-token', { audience: p.name, status: r.status });
      return management.respond(r.status, r.description);
    }
    connection.claims = connection.claims.filter((c) => c.path !== r.path).concat([{ path: r.path, expiresAt: r.expiresAt }]);
    this.log('put-token', { audience: p.name, status: 202 });
    return management.respond(202, 'Accepted');
  }

  // reply sends response to the link whose target is the request's reply-to
  // address, correlated by the request's message-id.
  reply(connection, request, response) {
    const to = request.reply_to;
    const link = connection.find_sender((s) => s.remote.attach && s.remote.attach.target && s.remote.attach.target.address === to);
    if (!link) return this.log('reply-dropped', { to });
    response.correlation_id = request.message_id;
    response.to = to;
    link.send(response);
    const op = (request.application_properties || {}).operation;
    if (op !== 'put-token') this.log('management', { op, status: Number(response.application_properties['status-code'].value) });
  }

  settle(ctx, outcome) {
    const { sender, delivery } = ctx;
    if (!sender.entity || delivery.settled) return;
    const ok = sender.entity.settle(delivery.lockToken, outcome, sender);
    if (!ok) return this.refuseSettlement(ctx, 'com.microsoft:message-lock-lost', 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.');
    // Service Bus confirms a dead-letter with a bare rejected outcome: an
    // error in it would fail the client's DeadLetterMessage.
    const state = outcome.kind === 'dead-letter' ? rhea.message.rejected() : delivery.remote_state;
    this.finish(sender, delivery, state);
  }

  refuseSettlement(ctx, condition, description) {
    this.finish(ctx.sender, ctx.delivery, rhea.message.rejected({ error: { condition, description } }));
  }

  // finish settles a delivery the receiver has disposed of. In receive mode
  // second the receiver sends nothing after the broker settles, so rhea
  // would keep the delivery (and, after 2048 of them, stop sending on the
  // session): mark it settled on both sides once the disposition is queued.
  // The freed room raises no 'sendable', so look for more work then.
  finish(sender, delivery, state) {
    delivery.update(true, state.described());
    delivery.remote_settled = true;
    setImmediate(() => sender.entity && sender.entity.pump());
  }

  // listen accepts AMQP connections on host:port; it resolves to the server.
  listen(host, port) {
    return new Promise((resolve, reject) => {
      const server = this.container.listen({ host, port, tcp_no_delay: true });
      server.once('listening', () => resolve(server));
      server.once('error', reject);
    });
  }
}

// echoAttach copies the peer's settle modes and terminus addresses onto
// the local attach, which rhea writes after this event: go-amqp refuses a
// link whose settle modes are not echoed.
function echoAttach(link, remote) {
  link.local.attach.snd_settle_mode = remote.snd_settle_mode;
  link.local.attach.rcv_settle_mode = remote.rcv_settle_mode;
  if (remote.source) link.set_source({ address: remote.source.address });
  if (remote.target) link.set_target({ address: remote.target.address });
}

// refuse answers an attach with a null terminus and detaches with err, as
// AMQP prescribes for a refused link.
function refuse(link, err, log, address) {
  if (link.is_receiver()) link.local.attach.target = null;
  else link.local.attach.source = null;
  log('attach-refused', { address, condition: err.condition });
  link.close(err);
}

function peer(connection) {
  const s = connection.socket;
  return s && s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'unknown';
}

module.exports = { Broker, MAX_MESSAGE_SIZE };
