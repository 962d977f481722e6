#!/usr/bin/env node
// Builds build/chorus.node with CMake (the `install` script of the package, so `npm install`
// builds the addon). Nothing is downloaded: the Node-API headers come from the local Node
// (npm_config_nodedir, else the headers next to the running node binary) and node-addon-api
// from node_modules. The C++ core is linked from an installed Chorus when CHORUS_PREFIX names
// its prefix, otherwise it is compiled from the repository sources (../..).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const force = process.argv.includes('--force');

function fail(msg) {
  console.error(`chorus: ${msg}`);
  process.exit(1);
}

function nodeIncludeDir() {
  const candidates = [];
  if (process.env.npm_config_nodedir) {
    candidates.push(path.join(process.env.npm_config_nodedir, 'include', 'node'));
  }
  candidates.push(path.resolve(path.dirname(process.execPath), '..', 'include', 'node'));
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'node_api.h'))) return dir;
  }
  return fail(`node_api.h not found in ${candidates.join(', ')}: install the Node headers ` +
              '(Debian: nodejs-dev / libnode-dev) or set npm_config_nodedir');
}

function addonApiDir() {
  try {
    return require('node-addon-api').include_dir.replace(/^"|"$/g, '');
  } catch (e) {
    return fail(`node-addon-api is missing (${e.message}): run npm install`);
  }
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed with status ${r.status}`);
}

if (!has('cmake')) fail('cmake (>= 3.25) is required to build the native module');

const args = ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release',
              `-DNODE_INCLUDE_DIR=${nodeIncludeDir()}`, `-DNODE_ADDON_API_DIR=${addonApiDir()}`];
if (has('ninja')) args.push('-G', 'Ninja');
const prefix = process.env.CHORUS_PREFIX;
if (prefix) {
  if (!fs.existsSync(prefix)) fail(`CHORUS_PREFIX=${prefix} does not exist`);
  // Chorus_DIR too: a build dir configured earlier against another install keeps its cached
  // Chorus_DIR, which CMAKE_PREFIX_PATH alone would not override.
  args.push(`-DCMAKE_PREFIX_PATH=${path.resolve(prefix)}`,
            `-DChorus_DIR=${path.resolve(prefix, 'lib', 'cmake', 'Chorus')}`,
            '-DCHORUS_NODE_FROM_SOURCE=OFF');
} else {
  args.push('-DCHORUS_NODE_FROM_SOURCE=ON');
}
if (force && fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) {
  fs.rmSync(path.join(buildDir, 'CMakeCache.txt'));
}
// A generator switch (Ninja appearing or vanishing) needs a fresh cache.
const cache = path.join(buildDir, 'CMakeCache.txt');
if (fs.existsSync(cache)) {
  const text = fs.readFileSync(cache, 'utf8');
  const ninja = /CMAKE_GENERATOR:INTERNAL=Ninja/.test(text);
  if (ninja !== has('ninja')) fs.rmSync(cache);
}
run('cmake', args);
const jobs = process.env.CHORUS_JOBS || String(Math.min(2, require('node:os').availableParallelism?.() ?? 2));
run('cmake', ['--build', buildDir, '--target', 'chorus_node', '-j', jobs]);
