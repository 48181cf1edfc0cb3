'use strict';
// Unit tests of the fake's configuration reading: node --test localworld/servicebus-fake
// (the broker itself is tested with the real Go client, see internal/queue).

const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const config = require('../lib/config.js');
const duration = require('../lib/duration.js');

test('durations', () => {
  const cases = { PT1M: 60000, PT20S: 20000, 'PT0.5S': 500, P14D: 14 * 86400000, P1DT2H3M4S: 93784000 };
  for (const [text, ms] of Object.entries(cases)) assert.strictEqual(duration.parse(text), ms, text);
  for (const bad of ['', 'P', 'PT', '1M', 'P1W', 'PT1X', 60]) assert.throws(() => duration.parse(bad), /ISO 8601/, String(bad));
});

test('the repository config declares sync-jobs, uploads and lifecycle with duplicate detection', () => {
  const cfg = config.load(path.join(__dirname, '..', 'config.json'));
  assert.deepStrictEqual(cfg.queues.map((q) => q.name), ['sync-jobs', 'uploads', 'lifecycle']);
  for (const q of cfg.queues) {
    assert.ok(q.settings.duplicateDetection, q.name);
    assert.ok(q.settings.maxDeliveryCount >= 1, q.name);
  }
});

test('every problem is reported, naming the queue and property', () => {
  const doc = { UserConfig: { Namespaces: [{ Name: 'ns', Queues: [
    { Name: 'a', Properties: { LockDuration: 'PT10M', MaxDeliveryCount: 0, Colour: 'red' } },
    { Name: '-bad', Properties: {} },
    { Name: 'b', Properties: { RequiresSession: true, ForwardTo: 'c' } },
    { Name: 'A', Properties: {} },
  ], Topics: [] }] } };
  assert.throws(() => config.parse(doc, 'cfg'), (e) => {
    for (const want of ['(a): LockDuration PT10M is outside', '(a): MaxDeliveryCount', 'unknown property Colour', 'Queues[1]', 'RequiresSession is not supported', 'ForwardTo is not supported', 'declared twice']) {
      assert.ok(e.message.includes(want), `missing ${want} in ${e.message}`);
    }
    return true;
  });
});

test('defaults are Service Bus defaults', () => {
  const problems = [];
  const s = config.queueProperties('q', undefined, problems);
  assert.deepStrictEqual(problems, []);
  assert.strictEqual(s.lockDurationMs, 60000);
  assert.strictEqual(s.maxDeliveryCount, 10);
  assert.strictEqual(s.duplicateDetection, false);
  assert.strictEqual(s.duplicateWindowMs, 600000);
});
