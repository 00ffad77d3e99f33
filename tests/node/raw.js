'use strict';
// raw.js - what the browser drivers read back from Kafka.
//   require('./raw').rawMessages(): every raw message of collect-topic1 on KAFKA_URL, from
//   the beginning, as {key, value} with the value parsed (kcat -J, 20 s at most).
const { execFileSync } = require('node:child_process');

function rawMessages() {
  const out = execFileSync('kcat', ['-b', process.env.KAFKA_URL, '-C', '-t', 'collect-topic1', '-o', 'beginning', '-e', '-q', '-J'],
    { encoding: 'utf8', timeout: 20000, maxBuffer: 64 << 20 });
  return out.split('\n').filter(Boolean).map((line) => {
    const m = JSON.parse(line);
    return { key: m.key, value: JSON.parse(m.payload) };
  });
}

module.exports = { rawMessages };
