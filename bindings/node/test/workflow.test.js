'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const chorus = require('..');
const { FakeLlm, findProgram, normaliseTimings } = require('./helpers.js');

let fake;
let client;
test.before(async () => {
  fake = await FakeLlm.start();
  client = new chorus.Client({ baseUrls: fake.baseUrls(), apiKeys: fake.apiKeys() });
});
test.after(async () => { await fake.stop(); });

function chain(nodes) {
  const all = [{ id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} }, ...nodes,
               { id: 'out', type: 'output', position: { x: 900, y: 0 }, data: {} }];
  const edges = [];
  for (let i = 1; i < all.length; ++i) {
    edges.push({ id: `e${i}`, source: all[i - 1].id, target: all[i].id });
  }
  return { id: 'chain', name: 'chain', nodes: all, edges };
}

function llm(id, provider, model, prompt, extra = {}) {
  return { id, type: 'llm', position: { x: 0, y: 0 }, data: { provider, model, prompt, ...extra } };
}

test('Workflow.fromJSON keeps the document; validate lists every problem', () => {
  const doc = chain([llm('a', 'openai', 'gpt-4o-mini', 'Say {{input}}')]);
  const wf = chorus.Workflow.fromJSON(doc);
  assert.deepEqual(wf.toJSON(), doc);
  assert.equal(wf.id, 'chain');
  assert.equal(wf.nodes.length, 3);
  assert.equal(wf.edges.length, 2);
  assert.deepEqual(wf.validate(), []);
  assert.deepEqual(JSON.parse(JSON.stringify(wf)), doc);

  const bad = chain([llm('a', 'openai', 'gpt-4o-mini', 'x', { temperature: 9 })]);
  bad.edges.push({ id: 'dangling', source: 'a', target: 'ghost' });
  const problems = chorus.Workflow.fromJSON(bad).validate();
  assert.ok(problems.some((p) => p.nodeId === 'a' && p.field === 'data.temperature'), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.edgeId === 'dangling'), JSON.stringify(problems));

  const unknown = chorus.Workflow.fromJSON(chain([llm('a', 'nope', 'm', 'x')]));
  assert.ok(unknown.validate({ client }).some((p) => p.nodeId === 'a'));
  assert.throws(() => chorus.Workflow.fromJSON('not json'), chorus.WorkflowValidationError);
});

test('run: a chain on the fake server, with events in order', async () => {
  const wf = chorus.Workflow.fromJSON(chain([
    llm('a', 'openai', 'gpt-4o-mini', '[[reply:alpha beta]] {{input}}'),
    llm('b', 'anthropic', 'claude-3-5-haiku', '[[echo]] got {{input}}'),
  ]));
  const events = [];
  const result = await chorus.run(wf, 'go', { client, onEvent: (e) => events.push(e) });
  assert.equal(result.status, 'succeeded');
  assert.equal(result.nodes.a.output, 'alpha beta');
  assert.equal(result.nodes.b.output, 'got alpha beta');
  assert.equal(result.output, 'got alpha beta');
  assert.equal(result.usage.totalTokens,
               result.nodes.a.usage.totalTokens + result.nodes.b.usage.totalTokens);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i));
  assert.equal(events[0].type, 'run_started');
  assert.equal(events.at(-1).type, 'run_finished');
  assert.deepEqual(events.at(-1).result, result);
  const tokens = events.filter((e) => e.type === 'token' && e.nodeId === 'a').map((e) => e.text).join('');
  assert.equal(tokens, 'alpha beta');
  const finishedA = events.findIndex((e) => e.type === 'node_finished' && e.nodeId === 'a');
  const startedB = events.findIndex((e) => e.type === 'node_started' && e.nodeId === 'b');
  assert.ok(finishedA >= 0 && finishedA < startedB);
});

test('runStream: yields every event and ends after run_finished', async () => {
  const wf = chain([llm('a', 'gemini', 'gemini-2.0-flash', '[[lorem:12]]')]);
  const stream = chorus.runStream(wf, 'x', { client });
  const types = [];
  for await (const ev of stream) types.push(ev.type);
  assert.equal(types[0], 'run_started');
  assert.equal(types.at(-1), 'run_finished');
  assert.ok(types.filter((t) => t === 'token').length >= 1);
  const result = await stream.result;
  assert.equal(result.status, 'succeeded');
  assert.equal(result.nodes.a.usage.completionTokens, 12);
});

test('run: the result equals `chorus run --json` for the same run', async () => {
  const doc = chain([
    llm('a', 'openai', 'gpt-4o-mini', 'Write about {{input}}', { maxTokens: 64 }),
    llm('b', 'deepseek', 'deepseek-chat', 'Shorten: {{input}}', { systemPrompt: 'Be terse.' }),
  ]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-node-'));
  const file = path.join(dir, 'wf.json');
  fs.writeFileSync(file, JSON.stringify(doc));
  const cli = spawnSync(findProgram('chorus'),
                        ['run', file, '--input', 'green tea', '--json', '--run-id', 'same-run', '-q'],
                        { env: { ...process.env, ...fake.env() }, encoding: 'utf8', timeout: 120_000 });
  fs.rmSync(dir, { recursive: true });
  assert.equal(cli.status, 0, `chorus run: ${cli.error ?? ''} ${cli.signal ?? ''} ${cli.stderr}`);
  const fromCli = JSON.parse(cli.stdout);

  const fromNode = await chorus.run(doc, 'green tea', { client, runId: 'same-run' });
  assert.equal(fromNode.status, 'succeeded');
  assert.deepEqual(normaliseTimings(fromNode), normaliseTimings(fromCli));
  assert.equal(JSON.stringify(normaliseTimings(fromNode)), JSON.stringify(normaliseTimings(fromCli)));
});

test('runStream: the events equal `chorus run --events` for the same run', async () => {
  const doc = chain([
    llm('a', 'openai', 'gpt-4o-mini', '[[lorem:15]] {{input}}'),
    llm('b', 'gemini', 'gemini-2.0-flash', '[[echo]] {{input}}'),
  ]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-node-'));
  const file = path.join(dir, 'wf.json');
  fs.writeFileSync(file, JSON.stringify(doc));
  const cli = spawnSync(findProgram('chorus'), ['run', file, '--input', 'x', '--events', '--run-id', 'ev-run', '-q'],
                        { env: { ...process.env, ...fake.env() }, encoding: 'utf8', timeout: 120_000 });
  fs.rmSync(dir, { recursive: true });
  assert.equal(cli.status, 0, `chorus run: ${cli.error ?? ''} ${cli.signal ?? ''} ${cli.stderr}`);
  const fromCli = cli.stdout.trim().split('\n').map((l) => JSON.parse(l));

  const fromNode = [];
  for await (const ev of chorus.runStream(doc, 'x', { client, runId: 'ev-run' })) fromNode.push(ev);
  assert.ok(fromNode.filter((e) => e.type === 'token').length >= 15);
  // Same events, same fields, same key order (token events are written by the binding itself).
  assert.equal(JSON.stringify(normaliseTimings(fromNode)), JSON.stringify(normaliseTimings(fromCli)));
});

test('run: failures reject with the error class and the complete result', async () => {
  const wf = chain([llm('a', 'openai', 'gpt-4o-mini', '[[status:401]] x'), llm('b', 'openai', 'gpt-4o-mini', 'y')]);
  await assert.rejects(chorus.run(wf, 'x', { client }), (e) => {
    assert.ok(e instanceof chorus.NodeFailedError, `${e.name}: ${e.message}`);
    assert.equal(e.result.status, 'failed');
    assert.equal(e.result.nodes.a.status, 'failed');
    assert.equal(e.result.nodes.a.error.kind, 'auth');
    assert.equal(e.result.nodes.b.status, 'cancelled');
    return true;
  });
  const result = await chorus.run(wf, 'x', { client, throwOnFailure: false });
  assert.equal(result.status, 'failed');

  const budget = chain([llm('a', 'openai', 'gpt-4o-mini', 'x', { maxTokens: 100000 })]);
  await assert.rejects(chorus.run(budget, 'x', { client, maxCostUsd: 0.000001 }), (e) => {
    assert.ok(e instanceof chorus.BudgetExceededError, `${e.name}: ${e.message}`);
    assert.equal(e.result.status, 'budget_exceeded');
    return true;
  });

  const invalid = chain([llm('a', 'openai', '', 'x')]);
  await assert.rejects(chorus.run(invalid, 'x', { client }), chorus.WorkflowValidationError);
});

test('run: a custom JS provider (execute and stream) inside a workflow', async () => {
  const calls = [];
  const custom = new chorus.Client({ baseUrls: fake.baseUrls(), apiKeys: fake.apiKeys() });
  custom.registerProvider({
    name: 'shouty',
    models: ['loud-1'],
    async execute(prompt, config, context) {
      calls.push({ prompt, config, messages: context.messages });
      return { content: prompt.toUpperCase(), usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 }, cost: 0.25 };
    },
  });
  custom.registerProvider({
    id: 'spaced',
    name: 'Spaced out',
    execute() { throw new Error('stream is used when streaming'); },
    async *stream(prompt) {
      for (const word of prompt.split(' ')) {
        await new Promise((r) => setImmediate(r));
        yield `${word}. `;
      }
    },
  });
  const wf = chain([
    llm('a', 'shouty', 'loud-1', 'make {{input}} loud', { systemPrompt: 'sys', temperature: 0.5 }),
    llm('b', 'openai', 'gpt-4o-mini', '[[echo]] {{input}}'),
    llm('c', 'spaced', 'any', '{{input}}'),
  ]);
  assert.deepEqual(chorus.Workflow.fromJSON(wf).validate({ client: custom }), []);
  const events = [];
  const result = await chorus.run(wf, 'tea', { client: custom, onEvent: (e) => events.push(e) });
  assert.equal(result.nodes.a.output, 'MAKE TEA LOUD');
  assert.deepEqual(result.nodes.a.usage.totalTokens, 7);
  assert.equal(result.nodes.a.cost, 0.25);
  assert.equal(result.nodes.a.provider, 'shouty');
  assert.equal(result.nodes.b.output, 'MAKE TEA LOUD');
  assert.equal(result.output, 'MAKE. TEA. LOUD. ');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].config.systemPrompt, 'sys');
  assert.equal(calls[0].config.temperature, 0.5);
  assert.equal(calls[0].config.model, 'loud-1');
  const ctokens = events.filter((e) => e.type === 'token' && e.nodeId === 'c').map((e) => e.text);
  assert.equal(ctokens.join(''), 'MAKE. TEA. LOUD. ');

  // Errors thrown by a JS provider keep their class and retry hint.
  custom.registerProvider({
    name: 'limited',
    execute() { throw new chorus.RateLimitError('slow down', { status: 429, retryAfterMs: 1500 }); },
  });
  await assert.rejects(custom.complete({ provider: 'limited', model: 'm', prompt: 'x' }), (e) => {
    assert.ok(e instanceof chorus.RateLimitError, `${e.name}: ${e.message}`);
    assert.equal(e.retryAfterMs, 1500);
    assert.equal(e.provider, 'limited');
    return true;
  });
  custom.registerProvider({ name: 'broken', execute() { throw new TypeError('oops'); } });
  await assert.rejects(custom.complete({ provider: 'broken', model: 'm', prompt: 'x' }),
                       (e) => e instanceof chorus.ServerError && /TypeError: oops/.test(e.message));
  assert.throws(() => custom.registerProvider({ name: 'x' }), chorus.InvalidArgumentError);
});

test('run: the event loop keeps turning during a long run', async () => {
  const wf = chain([llm('a', 'openai', 'gpt-4o-mini', '[[lorem:60]] [[token-delay:15]]')]);
  let ticks = 0;
  let ticksDuringTokens = 0;
  let tokensSeen = 0;
  const timer = setInterval(() => { ticks += 1; if (tokensSeen > 0) ticksDuringTokens += 1; }, 5);
  try {
    const result = await chorus.run(wf, 'x', {
      client,
      onEvent: (e) => { if (e.type === 'token') tokensSeen += 1; },
    });
    assert.equal(result.status, 'succeeded');
  } finally {
    clearInterval(timer);
  }
  assert.ok(tokensSeen >= 2);
  assert.ok(ticks >= 3, `timer fired ${ticks} times`);
  assert.ok(ticksDuringTokens >= 1, `timer fired ${ticksDuringTokens} times while tokens streamed`);
});

test('run: an onEvent callback that throws stops the run and rejects with its error', async () => {
  const wf = chain([llm('a', 'openai', 'gpt-4o-mini', '[[lorem:200]] [[token-delay:20]]')]);
  const boom = new Error('boom');
  await assert.rejects(chorus.run(wf, 'x', { client, onEvent: (e) => { if (e.type === 'token') throw boom; } }),
                       (e) => e === boom);
});
