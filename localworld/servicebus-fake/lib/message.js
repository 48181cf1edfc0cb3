'use strict';
// AMQP messages as the broker stores them: the sections a client sent are
// kept as raw bytes and copied unchanged into every delivery, so property
// and body types survive exactly (rhea's decoded form would turn an int32
// application property into a uint). Only the header and the message
// annotations, which the broker owns, are written anew.

const rhea = require('rhea');
const T = rhea.types;

const HEADER = 0x70;
const DELIVERY_ANNOTATIONS = 0x71;
const MESSAGE_ANNOTATIONS = 0x72;
const PROPERTIES = 0x73;
const APPLICATION_PROPERTIES = 0x74;
const FOOTER = 0x78;
const BODY = new Set([0x75, 0x76, 0x77]);

// BATCH_FORMAT is the message-format of azservicebus' batch envelope: its
// data sections are whole encoded messages.
const BATCH_FORMAT = 0x80013700;

const SYMBOLIC = {
  'amqp:header:list': HEADER, 'amqp:delivery-annotations:map': DELIVERY_ANNOTATIONS,
  'amqp:message-annotations:map': MESSAGE_ANNOTATIONS, 'amqp:properties:list': PROPERTIES,
  'amqp:application-properties:map': APPLICATION_PROPERTIES, 'amqp:data:binary': 0x75,
  'amqp:amqp-sequence:list': 0x76, 'amqp:value:*': 0x77, 'amqp:footer:map': FOOTER,
};

// The annotations the broker sets on deliveries; a client's own values for
// these keys are replaced.
const BROKER_ANNOTATIONS = new Set(['x-opt-enqueued-time', 'x-opt-sequence-number', 'x-opt-locked-until',
  'x-opt-deadletter-source', 'x-opt-message-state', 'x-opt-enqueue-sequence-number']);

function sectionCode(s) {
  const v = s.descriptor && s.descriptor.value;
  return typeof v === 'number' ? v : SYMBOLIC[v];
}

// pairs returns the typed [key, value] entries of a decoded AMQP map.
function pairs(mapValue) {
  const out = [];
  const items = (mapValue && mapValue.value) || [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push([items[i], items[i + 1]]);
  return out;
}

function plain(typed) {
  return T.unwrap(typed, true);
}

// parse splits an encoded message into its sections. It throws on malformed
// input.
function parse(buffer) {
  const reader = new T.Reader(buffer);
  const m = { header: {}, annotations: [], properties: null, appProps: [], body: [], footer: null, size: buffer.length };
  while (reader.remaining()) {
    const start = reader.position;
    const section = reader.read();
    const raw = buffer.subarray(start, reader.position);
    const code = sectionCode(section);
    if (code === HEADER) {
      const h = new (rhea.message.header().constructor)(section.value.map(plain));
      m.header = { ttl: h.ttl, durable: h.durable, priority: h.priority };
    } else if (code === MESSAGE_ANNOTATIONS) {
      m.annotations = pairs(section);
    } else if (code === PROPERTIES) {
      m.properties = Buffer.from(raw);
      const decoded = rhea.message.decode(m.properties);
      m.messageId = decoded.message_id === undefined ? undefined : String(decoded.message_id);
      m.sessionId = decoded.group_id;
    } else if (code === APPLICATION_PROPERTIES) {
      m.appProps = pairs(section);
    } else if (BODY.has(code)) {
      m.body.push(Buffer.from(raw));
    } else if (code === FOOTER) {
      m.footer = Buffer.from(raw);
    } else if (code !== DELIVERY_ANNOTATIONS) {
      throw new Error(`unknown message section ${JSON.stringify(section.descriptor && section.descriptor.value)}`);
    }
  }
  return m;
}

// unbatch returns the messages carried by a transfer: the batch envelope's
// data sections, or the single message.
function unbatch(buffer, format) {
  if (format !== BATCH_FORMAT) return [parse(buffer)];
  const reader = new T.Reader(buffer);
  const out = [];
  while (reader.remaining()) {
    const section = reader.read();
    if (sectionCode(section) === 0x75) out.push(parse(Buffer.from(section.value)));
  }
  if (out.length === 0) throw new Error('batch envelope without messages');
  return out;
}

// annotation returns the plain value of message annotation key, or undefined.
function annotation(m, key) {
  const p = m.annotations.find(([k]) => plain(k) === key);
  return p ? plain(p[1]) : undefined;
}

// appProp returns the plain value of application property key, or undefined.
function appProp(m, key) {
  const p = m.appProps.find(([k]) => plain(k) === key);
  return p ? plain(p[1]) : undefined;
}

// setAppProps returns m's application properties with values replaced or
// added; values are wrapped as AMQP strings, or by rhea's rules for others.
function setAppProps(list, values) {
  const keys = new Set(Object.keys(values));
  const out = list.filter(([k]) => !keys.has(plain(k)));
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === null) continue;
    out.push([T.wrap_string(k), typeof v === 'string' ? T.wrap_string(v) : T.wrap(v)]);
  }
  return out;
}

function mapSection(code, entries) {
  const items = [];
  for (const [k, v] of entries) items.push(k, v);
  return T.described(T.wrap_ulong(code), T.Map32(items));
}

// encode writes a message for delivery: a new header (delivery count,
// time to live), the client's annotations plus the broker's, and the
// client's other sections byte for byte.
function encode(m, { deliveryCount, ttlMs, annotations, appProps }) {
  const w = new T.Writer();
  const header = { durable: Boolean(m.header.durable), delivery_count: deliveryCount };
  if (ttlMs !== undefined && ttlMs <= 0xffffffff) header.ttl = ttlMs;
  if (m.header.priority !== undefined) header.priority = m.header.priority;
  w.write(rhea.message.header(header).described());
  const own = m.annotations.filter(([k]) => !BROKER_ANNOTATIONS.has(plain(k)));
  w.write(mapSection(MESSAGE_ANNOTATIONS, own.concat(Object.entries(annotations).map(([k, v]) => [T.wrap_symbol(k), v]))));
  if (m.properties) w.write_bytes(m.properties);
  const props = appProps || m.appProps;
  if (props.length) w.write(mapSection(APPLICATION_PROPERTIES, props));
  for (const b of m.body) w.write_bytes(b);
  if (m.footer) w.write_bytes(m.footer);
  return w.toBuffer();
}

module.exports = { parse, unbatch, encode, annotation, appProp, setAppProps, BATCH_FORMAT };
