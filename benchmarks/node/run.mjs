// Runs every measurement against one fake LLM server and prints the table and ratios used in
// docs/benchmarks.md. Usage: npm install && node run.mjs [N] [CONCURRENCY]
// Needs chorus-fake-llm: $CHORUS_BUILD_DIR/bin or ../../build/release/bin.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = process.argv[2] ?? '2000';
const CONC = process.argv[3] ?? '32';
const buildDir = process.env.CHORUS_BUILD_DIR ?? path.join(here, '..', '..', 'build', 'release');
const fakeBin = path.join(buildDir, 'bin', 'chorus-fake-llm');
if (!existsSync(fakeBin)) throw new Error(`${fakeBin} not found: build it or set CHORUS_BUILD_DIR`);

const fake = spawn(fakeBin, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const line = await new Promise((resolve) => readline.createInterface({ input: fake.stdout }).once('line', resolve));
const url = line.replace('chorus-fake-llm listening on ', '').trim();

const cases = [
  ['chorus', 'call'], ['openai', 'call'], ['ai', 'call'],
  ['chorus', 'stream'], ['openai', 'stream'], ['ai', 'stream'],
  ['chorus', 'chain'], ['langgraph', 'chain'],
];
const rows = [];
for (const [lib, mode] of cases) {
  const n = mode === 'chain' ? String(Math.ceil(Number(N) / 3)) : N;
  const r = spawnSync(process.execPath, [path.join(here, 'bench.mjs'), lib, mode, url, n, CONC],
                      { encoding: 'utf8', cwd: here });
  if (r.status !== 0) {
    console.error(`${lib} ${mode}: failed\n${r.stderr}`);
    continue;
  }
  const row = JSON.parse(r.stdout.trim().split('\n').at(-1));
  rows.push(row);
  console.log(`${lib.padEnd(10)} ${mode.padEnd(7)} ${row.cpuUsPerUnit.toFixed(1).padStart(9)} µs CPU/${mode === 'chain' ? 'node' : mode}  ` +
              `peak RSS ${row.maxRssMb.toFixed(1)} MB  wall ${(row.wallMs / 1000).toFixed(2)} s`);
}
fake.kill('SIGTERM');

const get = (lib, mode) => rows.find((r) => r.lib === lib && r.mode === mode);
console.log('\nratios (other / chorus):');
for (const [mode, others] of [['call', ['openai', 'ai']], ['stream', ['openai', 'ai']], ['chain', ['langgraph']]]) {
  const c = get('chorus', mode);
  for (const o of others) {
    const r = get(o, mode);
    if (c && r) {
      console.log(`  ${mode.padEnd(7)} ${o.padEnd(10)} CPU ×${(r.cpuUsPerUnit / c.cpuUsPerUnit).toFixed(1)}  RSS ×${(r.maxRssMb / c.maxRssMb).toFixed(2)}`);
    }
  }
}
