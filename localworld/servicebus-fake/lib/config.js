'use strict';
// Reads the queue declarations: a file shaped like the official Service Bus
// emulator's Config.json (UserConfig.Namespaces[0].Queues[].Properties).
// Every problem is reported at once; unknown or unsupported properties are
// errors, so a typo never silently falls back to a default.

const fs = require('fs');
const duration = require('./duration.js');

// DEFAULTS are Service Bus' defaults for a new queue (Standard tier), except
// DefaultMessageTimeToLive, which is the emulator's maximum (1 hour) there and
// 14 days here so that a long development session does not lose messages.
const DEFAULTS = {
  DeadLetteringOnMessageExpiration: false,
  DefaultMessageTimeToLive: 'P14D',
  DuplicateDetectionHistoryTimeWindow: 'PT10M',
  ForwardDeadLetteredMessagesTo: '',
  ForwardTo: '',
  LockDuration: 'PT1M',
  MaxDeliveryCount: 10,
  RequiresDuplicateDetection: false,
  RequiresSession: false,
};

// LIMITS follow Service Bus, except that LockDuration may be as short as one
// second (Service Bus: five) so that tests of lock expiry stay fast.
const LIMITS = {
  LockDuration: [1000, 5 * 60000],
  DuplicateDetectionHistoryTimeWindow: [20000, 7 * 24 * 3600000],
  DefaultMessageTimeToLive: [1000, 10675199 * 24 * 3600000],
};

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$/;

// queueProperties validates one queue's Properties object and returns the
// settings the broker uses (durations in milliseconds). problems collects
// what is wrong, prefixed with where.
function queueProperties(where, props, problems) {
  if (props === undefined) props = {};
  if (props === null || typeof props !== 'object' || Array.isArray(props)) {
    problems.push(`${where}: Properties must be an object`);
    return null;
  }
  for (const key of Object.keys(props)) {
    if (!(key in DEFAULTS)) problems.push(`${where}: unknown property ${key}; the properties are ${Object.keys(DEFAULTS).join(', ')}`);
  }
  const p = Object.assign({}, DEFAULTS, props);
  const out = {};
  for (const key of ['DeadLetteringOnMessageExpiration', 'RequiresDuplicateDetection', 'RequiresSession']) {
    if (typeof p[key] !== 'boolean') problems.push(`${where}: ${key} must be true or false`);
  }
  for (const key of Object.keys(LIMITS)) {
    try {
      const ms = duration.parse(p[key]);
      const [lo, hi] = LIMITS[key];
      if (ms < lo || ms > hi) problems.push(`${where}: ${key} ${p[key]} is outside ${lo / 1000}s..${hi / 1000}s`);
      out[key] = ms;
    } catch (e) {
      problems.push(`${where}: ${key}: ${e.message}`);
    }
  }
  if (!Number.isInteger(p.MaxDeliveryCount) || p.MaxDeliveryCount < 1) problems.push(`${where}: MaxDeliveryCount must be an integer of at least 1`);
  if (p.RequiresSession === true) problems.push(`${where}: RequiresSession is not supported by the fake (the connector uses no sessions)`);
  for (const key of ['ForwardTo', 'ForwardDeadLetteredMessagesTo']) {
    if (p[key] !== '') problems.push(`${where}: ${key} is not supported by the fake; leave it ""`);
  }
  return {
    lockDurationMs: out.LockDuration,
    maxDeliveryCount: p.MaxDeliveryCount,
    defaultTtlMs: out.DefaultMessageTimeToLive,
    deadLetterOnExpiration: p.DeadLetteringOnMessageExpiration,
    duplicateDetection: p.RequiresDuplicateDetection,
    duplicateWindowMs: out.DuplicateDetectionHistoryTimeWindow,
  };
}

// validName reports whether name is a valid Service Bus queue name.
function validName(name) {
  return typeof name === 'string' && NAME.test(name) && !name.includes('$');
}

// parse validates a Config.json document and returns {namespace, queues:
// [{name, settings}]}; it throws one Error listing every problem.
function parse(doc, source) {
  const problems = [];
  const ns = doc && doc.UserConfig && doc.UserConfig.Namespaces;
  if (!Array.isArray(ns) || ns.length !== 1) {
    throw new Error(`${source}: UserConfig.Namespaces must hold exactly one namespace, as in the emulator's Config.json`);
  }
  const namespace = ns[0];
  if ((namespace.Topics || []).length > 0) problems.push(`${source}: Topics are not supported by the fake; declare queues only`);
  const queues = [];
  const seen = new Set();
  (namespace.Queues || []).forEach((q, i) => {
    const where = `${source}: Queues[${i}]${q && q.Name ? ` (${q.Name})` : ''}`;
    if (!q || !validName(q.Name)) {
      problems.push(`${where}: Name must be 1-260 letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit`);
      return;
    }
    if (seen.has(q.Name.toLowerCase())) problems.push(`${where}: the queue is declared twice`);
    seen.add(q.Name.toLowerCase());
    const settings = queueProperties(where, q.Properties, problems);
    if (settings) queues.push({ name: q.Name, settings });
  });
  if (problems.length) throw new Error(`invalid queue configuration:\n  - ${problems.join('\n  - ')}`);
  return { namespace: namespace.Name || 'sbemulatorns', queues };
}

// load reads and parses the file at path.
function load(path) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`read ${path}: ${e.message}`);
  }
  return parse(doc, path);
}

module.exports = { load, parse, queueProperties, validName, DEFAULTS };
