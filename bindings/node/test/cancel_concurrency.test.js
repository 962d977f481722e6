'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const chorus = require('..');
const { FakeLlm } = require('./helpers.js');

let fake;
let client;
test.before(async () => {
  fake = await FakeLlm.start();
  client = new chorus.Client({ baseUrls: fake.baseUrls(), apiKeys: fake.apiKeys(), maxRetries: 0 });
});
test.after(async () => { await fake.stop(); });

// input -> one llm node -> output.
function oneLlm(provider, model, prompt) {
  return chorus.Workflow.fromJSON({
    nodes: [
      { id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
      { id: 'a', type: 'llm', position: { x: 0, y: 0 }, data: { provider, model, prompt } },
      { id: 'out', type: 'output', position: { x: 0, y: 0 }, data: {} },
    ],
    edges: [{ id: 'e1', source: 'in', target: 'a' }, { id: 'e2', source: 'a', target: 'out' }],
  });
}

async function waitForNoConnections() {
  // The client closes aborted connections; keep-alive ones may stay open but idle.
  for (let i = 0; i < 200; ++i) {
    const s = await fake.stats();
    if (s.open_connections <= 64) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fake.stats();
}

test('abort: complete() rejects with CancelledError when the signal aborts', async () => {
  const ac = new AbortController();
  const p = client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: '[[latency:60000]] x' },
                            { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof chorus.CancelledError, `${e.name}: ${e.message}`);
    assert.equal(e.code, 'cancelled');
    return true;
  });
  // An already aborted signal rejects at once.
  await assert.rejects(client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: 'x' },
                                       { signal: AbortSignal.abort() }), chorus.CancelledError);
});

test('abort: a stream stops when the signal aborts, keeping what arrived', async () => {
  const ac = new AbortController();
  const stream = client.stream({ provider: 'gemini', model: 'gemini-2.0-flash',
                                 prompt: '[[lorem:1000]] [[token-delay:20]]' }, { signal: ac.signal });
  let text = '';
  await assert.rejects(async () => {
    for await (const d of stream) {
      text += d.text;
      if (text.length > 20) ac.abort();
    }
  }, chorus.CancelledError);
  const e = await stream.response.catch((x) => x);
  assert.ok(e instanceof chorus.CancelledError);
  assert.ok(e.response.content.startsWith(text.slice(0, 10)));
  assert.ok(e.response.content.split(' ').length < 1000);
});

test('abort: breaking out of for-await cancels the stream', async () => {
  const stream = client.stream({ provider: 'openai', model: 'gpt-4o-mini',
                                 prompt: '[[lorem:1000]] [[token-delay:20]]' });
  let pieces = 0;
  for await (const d of stream) {
    assert.ok(d.text.length > 0);
    if (++pieces === 2) break;
  }
  await assert.rejects(stream.response, chorus.CancelledError);
});

test('abort: a run is cancelled and its result shows what was done', async () => {
  const wf = {
    nodes: [
      { id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
      { id: 'a', type: 'llm', position: { x: 0, y: 0 }, data: { provider: 'openai', model: 'gpt-4o-mini', prompt: '[[reply:done]]' } },
      { id: 'b', type: 'llm', position: { x: 0, y: 0 }, data: { provider: 'openai', model: 'gpt-4o-mini', prompt: '[[lorem:1000]] [[token-delay:30]]' } },
      { id: 'out', type: 'output', position: { x: 0, y: 0 }, data: {} },
    ],
    edges: [{ id: 'e1', source: 'in', target: 'a' }, { id: 'e2', source: 'a', target: 'b' },
            { id: 'e3', source: 'b', target: 'out' }],
  };
  const ac = new AbortController();
  const run = chorus.run(wf, 'x', {
    client, signal: ac.signal,
    onEvent: (e) => { if (e.type === 'token' && e.nodeId === 'b') ac.abort(); },
  });
  await assert.rejects(run, (e) => {
    assert.ok(e instanceof chorus.CancelledError, `${e.name}: ${e.message}`);
    assert.equal(e.result.status, 'cancelled');
    assert.equal(e.result.nodes.a.status, 'succeeded');
    assert.equal(e.result.nodes.a.output, 'done');
    assert.equal(e.result.nodes.b.status, 'cancelled');
    return true;
  });
  // runStream: breaking out cancels too.
  const stream = chorus.runStream(wf, 'x', { client });
  for await (const ev of stream) if (ev.type === 'token') break;
  await assert.rejects(stream.result, chorus.CancelledError);
});

test('1000 concurrent calls all complete with their own answers', async () => {
  const before = chorus.nativeStats();
  const calls = [];
  for (let i = 0; i < 1000; ++i) {
    const provider = ['openai', 'anthropic', 'gemini', 'deepseek'][i % 4];
    const model = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku',
                    gemini: 'gemini-2.0-flash', deepseek: 'deepseek-chat' }[provider];
    calls.push(client.complete({ provider, model, prompt: `[[reply:answer ${i}]]` }));
  }
  const results = await Promise.all(calls);
  results.forEach((r, i) => assert.equal(r.content, `answer ${i}`));
  const after = chorus.nativeStats();
  // Every completion went through the bridge; completions arriving together share a wake-up.
  const deliveries = after.deliveries - before.deliveries;
  const wakeups = after.wakeups - before.wakeups;
  assert.ok(after.started);
  assert.ok(deliveries >= 1000, `${deliveries} deliveries`);
  assert.ok(wakeups >= 1 && wakeups <= deliveries, `${wakeups} wake-ups for ${deliveries} deliveries`);
  const s = await waitForNoConnections();
  assert.ok(s.requests >= 1000);
});

test('1000 concurrent streams and runs', async () => {
  const streams = [];
  for (let i = 0; i < 500; ++i) {
    streams.push((async () => {
      let text = '';
      for await (const d of client.stream({ provider: 'openai', model: 'gpt-4o-mini', prompt: `[[reply:s ${i} end]]` })) text += d.text;
      return text;
    })());
  }
  const wf = oneLlm('anthropic', 'claude-3-5-haiku', '[[echo]] {{input}}');
  const runs = [];
  for (let i = 0; i < 500; ++i) runs.push(chorus.run(wf, `run ${i}`, { client }));
  const texts = await Promise.all(streams);
  texts.forEach((t, i) => assert.equal(t, `s ${i} end`));
  const results = await Promise.all(runs);
  results.forEach((r, i) => assert.equal(r.output, `run ${i}`));
});

test('abort: runs aborted right after they started are cancelled (the process survives)', async () => {
  // The abort reaches C++ before the run has even started on the io thread.
  const wf = oneLlm('openai', 'gpt-4o-mini', '[[latency:5000]] {{input}}');
  const runs = [];
  for (let i = 0; i < 200; ++i) {
    const ac = new AbortController();
    runs.push(chorus.run(wf, `run ${i}`, { client, signal: ac.signal }));
    ac.abort();
  }
  const settled = await Promise.allSettled(runs);
  for (const r of settled) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof chorus.CancelledError, `${r.reason.name}: ${r.reason.message}`);
    assert.equal(r.reason.result.status, 'cancelled');
  }
  assert.equal(chorus.nativeStats().inFlight, 0);
});

test('operations in flight are tracked until their completion is delivered, then forgotten', async () => {
  assert.equal(chorus.nativeStats().inFlight, 0);
  const wf = oneLlm('openai', 'gpt-4o-mini', '[[echo]] {{input}}');
  const events = [];
  const pending = [
    chorus.run(wf, 'plain', { client }),
    chorus.run(wf, 'with events', { client, onEvent: (e) => events.push(e.type) }),
    client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: '[[reply:call]]' }),
    (async () => {
      let text = '';
      for await (const d of client.stream({ provider: 'openai', model: 'gpt-4o-mini', prompt: '[[reply:streamed]]' })) text += d.text;
      return text;
    })(),
  ];
  assert.equal(chorus.nativeStats().inFlight, 4);  // nothing can finish before this turn ends
  const [plain, withEvents, call, streamed] = await Promise.all(pending);
  assert.equal(plain.output, 'plain');
  assert.equal(withEvents.output, 'with events');
  assert.equal(events[0], 'run_started');
  assert.equal(events[events.length - 1], 'run_finished');
  assert.equal(call.content, 'call');
  assert.equal(streamed, 'streamed');
  assert.equal(chorus.nativeStats().inFlight, 0);
  // Cancelling a finished operation is a no-op.
  const ac = new AbortController();
  const done = await chorus.run(wf, 'late abort', { client, signal: ac.signal });
  ac.abort();
  assert.equal(done.output, 'late abort');
});

test('abort: a JS provider sees context.signal abort and the caller gets CancelledError', async () => {
  const custom = new chorus.Client();
  let started;
  const startedP = new Promise((r) => { started = r; });
  let sawAbort = false;
  custom.registerProvider({
    name: 'waiter',
    execute(prompt, config, context) {
      started();
      return new Promise((resolve) => {
        context.signal.addEventListener('abort', () => { sawAbort = true; resolve('too late'); });
      });
    },
  });
  const ac = new AbortController();
  const p = custom.complete({ provider: 'waiter', model: 'w', prompt: 'x' }, { signal: ac.signal });
  await startedP;
  ac.abort();
  await assert.rejects(p, chorus.CancelledError);
  for (let i = 0; i < 100 && !sawAbort; ++i) await new Promise((r) => setTimeout(r, 10));
  assert.ok(sawAbort, 'the provider was told');

  // A provider answering with a malformed response fails with a message naming the field.
  custom.registerProvider({ name: 'malformed', execute: () => ({ content: 42 }) });
  await assert.rejects(custom.complete({ provider: 'malformed', model: 'm', prompt: 'x' }),
                       (e) => e instanceof chorus.InvalidArgumentError && /content/.test(e.message));
});
