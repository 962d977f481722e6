'use strict';
// Shared by the tests: the fake LLM server (a real process on a real socket), the chorus CLI,
// and clients pointed at the server. Programs come from $CHORUS_BUILD_DIR/bin (scripts/test
// sets it to the release build), else from the usual build folders.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..', '..', '..');

function buildDirs() {
  if (process.env.CHORUS_BUILD_DIR) return [process.env.CHORUS_BUILD_DIR];
  return ['release', 'node', 'dev'].map((d) => path.join(ROOT, 'build', d));
}

function findProgram(name) {
  for (const dir of buildDirs()) {
    const p = path.join(dir, 'bin', name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${name} not found in ${buildDirs().map((d) => path.join(d, 'bin')).join(', ')}: ` +
                  'build it (cmake --build --preset release) and set CHORUS_BUILD_DIR');
}

class FakeLlm {
  static async start(args = []) {
    const proc = spawn(findProgram('chorus-fake-llm'), ['--port', '0', ...args],
                       { stdio: ['ignore', 'pipe', 'inherit'] });
    const rl = readline.createInterface({ input: proc.stdout });
    const line = await new Promise((resolve, reject) => {
      rl.once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`chorus-fake-llm exited with ${code}`)));
    });
    rl.close();
    const prefix = 'chorus-fake-llm listening on ';
    if (!line.startsWith(prefix)) {
      proc.kill();
      throw new Error(`chorus-fake-llm did not start: ${line}`);
    }
    return new FakeLlm(proc, line.slice(prefix.length).trim());
  }

  constructor(proc, url) {
    this.proc = proc;
    this.url = url;
  }

  baseUrls() {
    return {
      openai: `${this.url}/v1`, anthropic: this.url, gemini: this.url, deepseek: this.url,
      'openai-compatible': `${this.url}/v1`,
    };
  }

  apiKeys() {
    const keys = {};
    for (const id of Object.keys(this.baseUrls())) keys[id] = `test-key-${id}`;
    return keys;
  }

  /** Environment variables pointing every provider at this server with a test key. */
  env() {
    const env = {};
    for (const [id, url] of Object.entries(this.baseUrls())) {
      const prefix = id.toUpperCase().replace(/-/g, '_');
      env[`${prefix}_BASE_URL`] = url;
      env[`${prefix}_API_KEY`] = `test-key-${id}`;
    }
    return env;
  }

  async stats() {
    const r = await fetch(`${this.url}/_fake/stats`);
    return r.json();
  }

  async stop() {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

/** Replaces timing fields (which differ between two runs) so results can be compared. */
function normaliseTimings(value) {
  const timing = new Set(['wallTimeMs', 'latencyMs', 'timeMs', 'timeToFirstTokenMs']);
  if (Array.isArray(value)) return value.map(normaliseTimings);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = timing.has(k) ? 0 : normaliseTimings(v);
    return out;
  }
  return value;
}

module.exports = { ROOT, FakeLlm, findProgram, normaliseTimings };
