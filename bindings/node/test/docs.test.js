'use strict';
// docs/node.md shows the files of examples/ verbatim; every example runs here (offline: they use
// the `simulated` provider) and prints what the guide says it prints.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./helpers.js');

const guide = fs.readFileSync(path.join(ROOT, 'docs', 'node.md'), 'utf8');
const blocks = [...guide.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)];

test('docs/node.md shows every example verbatim', () => {
  const shown = blocks.map((m) => m[1]).sort();
  const files = fs.readdirSync(path.join(__dirname, '..', 'examples'))
    .map((f) => `bindings/node/examples/${f}`).sort();
  assert.deepEqual(shown, files);
  for (const [, file, code] of blocks) {
    assert.equal(code, fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/\n$/, ''), file);
  }
});

const expected = {
  'quickstart.mjs': [/tokens, \$0\.\d+/, /tokens streamed/, /rate limited \(HTTP 429\), retry in 2000 ms/],
  'workflow.mjs': [/✓ writer/, /total: \d+ tokens/, /token events; status succeeded/],
  'custom-provider.mjs': [/^three two one$/m, /^hello world$/m],
  'abort.mjs': [/stream cancelled after \d+ characters/, /run cancelled: node slow cancelled/],
  'commonjs.cjs': [/^Hello from CommonJS$/m],
};

for (const [, file] of blocks) {
  const name = path.basename(file);
  test(`example ${name} runs`, () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, file)], {
      encoding: 'utf8', timeout: 300_000,
      env: { ...process.env, CHORUS_SIMULATED_TOKEN_DELAY_MS: '0' },
    });
    assert.equal(r.status, 0, `${name} failed:\n${r.stdout}\n${r.stderr}`);
    for (const re of expected[name] ?? []) assert.match(r.stdout, re, `${name} output:\n${r.stdout}`);
  });
}
