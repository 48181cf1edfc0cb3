'use strict';
// ISO 8601 durations as the Service Bus emulator's Config.json writes them
// (PT1M, PT20S, P14D, PT0.5S). Years, months and weeks are refused: their
// length is ambiguous and Service Bus properties never need them.

const PATTERN = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

// parse returns the duration in milliseconds, or throws an Error naming the
// expected format.
function parse(text) {
  const m = typeof text === 'string' ? PATTERN.exec(text) : null;
  if (!m || text === 'P' || text.endsWith('T')) {
    throw new Error(`${JSON.stringify(text)} is not an ISO 8601 duration such as PT1M, PT30S or P14D`);
  }
  const [, d = 0, h = 0, min = 0, s = 0] = m;
  return Math.round(((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60000 + Number(s) * 1000);
}

module.exports = { parse };
