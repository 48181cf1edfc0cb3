'use strict';
// A queue, or its dead-letter sub-queue, with Service Bus' semantics:
// sequence numbers, scheduled messages, peek-lock with lock expiry and
// redelivery, DeliveryCount, MaxDeliveryCount -> dead-letter queue with a
// reason, duplicate detection by MessageId within a window, and time to live.

const crypto = require('crypto');
const rhea = require('rhea');
const msgs = require('./message.js');

const T = rhea.types;

// Service Bus' dead-letter reasons and descriptions for the broker's own
// dead-lettering.
const MAX_DELIVERY = 'MaxDeliveryCountExceeded';
const TTL_EXPIRED = 'TTLExpiredException';

// lockTag returns the delivery tag for a lock token: the token's bytes in
// .NET GUID order, which azservicebus swaps back (the swap is self-inverse).
function lockTag(token) {
  const t = Buffer.from(token.replace(/-/g, ''), 'hex');
  [t[0], t[3]] = [t[3], t[0]];
  [t[1], t[2]] = [t[2], t[1]];
  [t[4], t[5]] = [t[5], t[4]];
  [t[6], t[7]] = [t[7], t[6]];
  return t;
}

class Entity {
  // name is the entity path; settings come from config.queueProperties.
  // A queue creates its own dead-letter sub-queue; deadLetterOf is set on
  // that sub-queue. log(op, fields) records one operation.
  constructor(name, settings, log, deadLetterOf) {
    this.name = name;
    this.settings = settings;
    this.log = log;
    this.deadLetterOf = deadLetterOf || null;
    this.nextSeq = deadLetterOf ? null : 1;
    this.available = []; // ordered by sequence number
    this.scheduled = new Map(); // seq -> message
    this.locks = new Map(); // lock token -> message
    this.consumers = [];
    this.seen = new Map(); // MessageId -> first enqueue time (duplicate detection)
    this.closed = false;
    this.dlq = deadLetterOf ? null : new Entity(`${name}/$DeadLetterQueue`, settings, log, this);
  }

  // enqueue stores messages a client sent (or scheduled, when at is given)
  // and returns their sequence numbers. A message whose MessageId was seen
  // within the duplicate detection window is accepted and dropped, as
  // Service Bus does; its sequence number is null.
  enqueue(parsed, at) {
    const now = Date.now();
    const seqs = [];
    for (const m of parsed) {
      if (this.isDuplicate(m.messageId, now)) {
        this.log('duplicate-dropped', { queue: this.name, id: m.messageId });
        seqs.push(null);
        continue;
      }
      const scheduledAt = at !== undefined ? at : scheduleTime(m);
      const msg = { seq: this.nextSeq++, m, enqueuedAt: now, ttlMs: m.header.ttl || this.settings.defaultTtlMs, deliveryCount: 0, lock: null, appProps: null };
      seqs.push(msg.seq);
      if (scheduledAt !== undefined && scheduledAt > now) {
        msg.scheduledAt = scheduledAt;
        msg.timer = setTimeout(() => this.activate(msg), scheduledAt - now);
        this.scheduled.set(msg.seq, msg);
        this.log('schedule', { queue: this.name, seq: msg.seq, id: m.messageId, at: new Date(scheduledAt).toISOString(), bytes: m.size });
      } else {
        this.insert(msg);
        this.log('send', { queue: this.name, seq: msg.seq, id: m.messageId, bytes: m.size });
      }
    }
    this.pump();
    return seqs;
  }

  isDuplicate(id, now) {
    if (!this.settings.duplicateDetection || id === undefined) return false;
    for (const [k, t] of this.seen) { // oldest first: drop what left the window
      if (now - t < this.settings.duplicateWindowMs) break;
      this.seen.delete(k);
    }
    if (this.seen.has(id)) return true;
    this.seen.set(id, now);
    return false;
  }

  // activate makes a scheduled message available at its time; Service Bus
  // sets its enqueued time then.
  activate(msg) {
    const early = msg.scheduledAt - Date.now();
    if (early > 0) { // Node's timers may fire a millisecond early
      msg.timer = setTimeout(() => this.activate(msg), early);
      return;
    }
    if (!this.scheduled.delete(msg.seq)) return;
    msg.enqueuedAt = Date.now();
    delete msg.scheduledAt;
    this.log('enqueue-scheduled', { queue: this.name, seq: msg.seq, id: msg.m.messageId });
    this.insert(msg);
    this.pump();
  }

  // cancel removes scheduled messages; it returns the sequence numbers that
  // were not scheduled (already enqueued, cancelled, or unknown).
  cancel(seqs) {
    const missing = [];
    for (const seq of seqs) {
      const msg = this.scheduled.get(seq);
      if (!msg) {
        missing.push(seq);
        continue;
      }
      clearTimeout(msg.timer);
      this.scheduled.delete(seq);
      this.log('cancel-scheduled', { queue: this.name, seq });
    }
    return missing;
  }

  insert(msg) {
    let lo = 0;
    let hi = this.available.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.available[mid].seq < msg.seq) lo = mid + 1;
      else hi = mid;
    }
    this.available.splice(lo, 0, msg);
  }

  addConsumer(link) {
    this.consumers.push(link);
    this.pump();
  }

  removeConsumer(link) {
    this.consumers = this.consumers.filter((l) => l !== link);
  }

  // pump delivers available messages to consumers with credit, in turn:
  // never more than a consumer's credit, as Service Bus (a receiver with no
  // prefetch asks for what it can take, and gets no more).
  pump() {
    let progress = true;
    while (progress && this.available.length) {
      progress = false;
      for (const link of this.consumers.slice()) {
        if (!this.available.length) break;
        if (!link.is_open() || !hasCredit(link)) continue;
        const msg = this.available.shift();
        if (this.expired(msg)) {
          progress = true;
          continue;
        }
        this.deliver(link, msg);
        progress = true;
      }
    }
  }

  // expired handles a message whose time to live has passed: dead-lettered
  // when the queue says so, dropped otherwise. Messages in a dead-letter
  // queue never expire.
  expired(msg) {
    if (this.deadLetterOf || Date.now() < msg.enqueuedAt + msg.ttlMs) return false;
    this.log('expire', { queue: this.name, seq: msg.seq, id: msg.m.messageId });
    if (this.settings.deadLetterOnExpiration) this.moveToDeadLetter(msg, TTL_EXPIRED, 'The message expired and was dead lettered.');
    return true;
  }

  deliver(link, msg) {
    const annotations = this.annotations(msg);
    const receiveAndDelete = link.local.attach.snd_settle_mode === 1;
    const token = crypto.randomUUID();
    if (!receiveAndDelete) {
      const until = Date.now() + this.settings.lockDurationMs;
      msg.lock = { token, until, link, timer: null };
      msg.lock.timer = setTimeout(() => this.lockExpired(msg, token), this.settings.lockDurationMs);
      this.locks.set(token, msg);
      annotations['x-opt-locked-until'] = T.wrap_timestamp(until);
    }
    const payload = msgs.encode(msg.m, { deliveryCount: msg.deliveryCount, ttlMs: msg.ttlMs, annotations, appProps: msg.appProps });
    const delivery = link.send(payload, lockTag(token), 0);
    delivery.lockToken = token;
    (link.unsent || (link.unsent = [])).push(delivery.id);
    this.log(receiveAndDelete ? 'receive-delete' : 'deliver', { queue: this.name, seq: msg.seq, id: msg.m.messageId, deliveryCount: msg.deliveryCount + 1, lock: receiveAndDelete ? undefined : token });
  }

  // annotations are the broker's message annotations for msg.
  annotations(msg) {
    const a = {
      'x-opt-enqueued-time': T.wrap_timestamp(msg.enqueuedAt),
      'x-opt-sequence-number': T.wrap_long(msg.seq),
    };
    if (msg.deadLetterSource) a['x-opt-deadletter-source'] = T.wrap_string(msg.deadLetterSource);
    if (msg.scheduledAt !== undefined) a['x-opt-message-state'] = T.wrap_int(2);
    return a;
  }

  lockExpired(msg, token) {
    if (!msg.lock || msg.lock.token !== token) return;
    this.log('lock-expired', { queue: this.name, seq: msg.seq, id: msg.m.messageId, lock: token });
    this.unlock(msg);
    this.failedDelivery(msg);
  }

  unlock(msg) {
    clearTimeout(msg.lock.timer);
    this.locks.delete(msg.lock.token);
    msg.lock = null;
  }

  // failedDelivery counts a delivery that did not complete (abandoned, or
  // its lock expired) and returns the message, or dead-letters it once it
  // has been delivered MaxDeliveryCount times.
  failedDelivery(msg) {
    msg.deliveryCount++;
    if (!this.deadLetterOf && msg.deliveryCount >= this.settings.maxDeliveryCount) {
      this.moveToDeadLetter(msg, MAX_DELIVERY, `Message could not be consumed after ${this.settings.maxDeliveryCount} delivery attempts.`);
    } else {
      this.insert(msg);
    }
    this.pump();
  }

  moveToDeadLetter(msg, reason, description, props) {
    const values = Object.assign({}, props || {}, { DeadLetterReason: reason, DeadLetterErrorDescription: description });
    msg.appProps = msgs.setAppProps(msg.appProps || msg.m.appProps, values);
    msg.deadLetterSource = this.name;
    this.log('dead-letter', { queue: this.name, seq: msg.seq, id: msg.m.messageId, reason });
    this.dlq.insert(msg);
    this.dlq.pump();
  }

  // lockFor returns the message locked under token, or null when the lock
  // expired or the message was settled. link, when given, must be the link
  // the message was delivered on.
  lockFor(token, link) {
    const msg = this.locks.get(token);
    if (!msg || msg.lock.until <= Date.now() || (link && msg.lock.link !== link)) return null;
    return msg;
  }

  // settle applies a receiver's outcome to the message locked under token:
  // complete, abandon (with properties to modify), dead-letter or release.
  // It returns false when the lock is lost.
  settle(token, outcome, link) {
    const msg = this.lockFor(token, link);
    if (!msg) {
      this.log('lock-lost', { queue: this.name, lock: token, outcome: outcome.kind });
      return false;
    }
    this.unlock(msg);
    switch (outcome.kind) {
      case 'complete':
        this.log('complete', { queue: this.name, seq: msg.seq, id: msg.m.messageId });
        break;
      case 'release': // a prefetched message the receiver did not want: no delivery attempt
        this.log('release', { queue: this.name, seq: msg.seq, id: msg.m.messageId });
        this.insert(msg);
        this.pump();
        break;
      case 'abandon':
        if (outcome.props && Object.keys(outcome.props).length) msg.appProps = msgs.setAppProps(msg.appProps || msg.m.appProps, outcome.props);
        this.log('abandon', { queue: this.name, seq: msg.seq, id: msg.m.messageId, deliveryCount: msg.deliveryCount + 1 });
        this.failedDelivery(msg);
        break;
      case 'dead-letter':
        if (this.deadLetterOf) { // dead-lettering from the DLQ keeps the message there
          this.insert(msg);
          break;
        }
        this.moveToDeadLetter(msg, outcome.reason, outcome.description, outcome.props);
        break;
      default:
        throw new Error(`unknown outcome ${outcome.kind}`);
    }
    return true;
  }

  // renew extends the lock under token by the lock duration; it returns the
  // new expiry (ms), or null when the lock is lost.
  renew(token) {
    const msg = this.lockFor(token);
    if (!msg) return null;
    clearTimeout(msg.lock.timer);
    msg.lock.until = Date.now() + this.settings.lockDurationMs;
    msg.lock.timer = setTimeout(() => this.lockExpired(msg, token), this.settings.lockDurationMs);
    this.log('renew-lock', { queue: this.name, seq: msg.seq, lock: token });
    return msg.lock.until;
  }

  // peek returns up to count messages from sequence number from on, in
  // order, whatever their state (active, locked or scheduled), without
  // locking them.
  peek(from, count) {
    const all = this.available.concat([...this.locks.values()], [...this.scheduled.values()])
      .filter((msg) => msg.seq >= from)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, count);
    this.log('peek', { queue: this.name, from, count, found: all.length });
    return all.map((msg) => msgs.encode(msg.m, { deliveryCount: msg.deliveryCount, ttlMs: msg.ttlMs, annotations: this.annotations(msg), appProps: msg.appProps }));
  }

  // counts reports how many messages are in each state, after expiring the
  // messages whose time to live has passed.
  counts() {
    this.available = this.available.filter((msg) => !this.expired(msg));
    return { active: this.available.length, locked: this.locks.size, scheduled: this.scheduled.size, deadLetter: this.dlq ? this.dlq.available.length + this.dlq.locks.size : 0 };
  }

  // close stops the entity's timers (on delete or shutdown).
  close() {
    for (const msg of this.scheduled.values()) clearTimeout(msg.timer);
    for (const msg of this.locks.values()) clearTimeout(msg.lock.timer);
    this.scheduled.clear();
    this.locks.clear();
    this.closed = true;
    for (const link of this.consumers) link.close({ condition: 'amqp:not-found', description: `The messaging entity '${this.name}' was deleted.` });
    if (this.dlq) this.dlq.close();
  }
}

function scheduleTime(m) {
  const t = msgs.annotation(m, 'x-opt-scheduled-enqueue-time');
  return t instanceof Date ? t.getTime() : undefined;
}

module.exports = { Entity, MAX_DELIVERY, TTL_EXPIRED };

// hasCredit says whether link may be given one more message. rhea spends a
// link's credit only when it writes the transfer (on the next tick), so the
// deliveries handed to it and not yet written count against the credit too;
// without this a pump hands every available message to a link with credit
// for one, and their locks run out in rhea's queue before the receiver has
// asked for them.
function hasCredit(link) {
  const written = link.session.outgoing.next_pending_delivery;
  const unsent = (link.unsent || []).filter((id) => id >= written);
  link.unsent = unsent;
  return link.sendable() && link.credit > unsent.length;
}
