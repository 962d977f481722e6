// `require('chorus')` and `import('chorus')` time, each in a fresh process: node require_time.cjs [RUNS]
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const runs = Number(process.argv[2] ?? 20);
const pkg = path.resolve(__dirname, '..', '..', 'bindings', 'node');
const cjs = `const t=performance.now();require(${JSON.stringify(pkg)});console.log(performance.now()-t)`;
const esm = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(path.join(pkg, 'lib', 'index.mjs')).href)});` +
            'console.log(performance.now()-t)';

function measure(args) {
  const xs = [];
  for (let i = 0; i < runs; ++i) {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    xs.push(Number(r.stdout.trim()));
  }
  xs.sort((a, b) => a - b);
  return `min ${xs[0].toFixed(2)} ms, median ${xs[Math.floor(xs.length / 2)].toFixed(2)} ms, max ${xs.at(-1).toFixed(2)} ms (${runs} runs)`;
}

// Baselines: the same in an empty module, so the loader's own start-up can be told apart
// (the first dynamic import boots Node's ESM loader, tens of ms on a loaded machine).
const fs = require('node:fs');
const os = require('node:os');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-require-'));
fs.writeFileSync(path.join(dir, 'empty.cjs'), 'module.exports = {};\n');
fs.writeFileSync(path.join(dir, 'empty.mjs'), 'export {};\n');
const cjsEmpty = `const t=performance.now();require(${JSON.stringify(path.join(dir, 'empty.cjs'))});console.log(performance.now()-t)`;
const esmEmpty = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(path.join(dir, 'empty.mjs')).href)});` +
                 'console.log(performance.now()-t)';
console.log(`require('chorus'):     ${measure(['-e', cjs])}`);
console.log(`require(empty module): ${measure(['-e', cjsEmpty])}`);
console.log(`import('chorus'):      ${measure(['--input-type=module', '-e', esm])}`);
console.log(`import(empty module):  ${measure(['--input-type=module', '-e', esmEmpty])}`);
fs.rmSync(dir, { recursive: true });
