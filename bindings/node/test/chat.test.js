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

const vendors = [
  ['openai', 'gpt-4o-mini'],
  ['anthropic', 'claude-3-5-haiku'],
  ['gemini', 'gemini-2.0-flash'],
  ['deepseek', 'deepseek-chat'],
  ['openai-compatible', 'llama3'],
];

for (const [provider, model] of vendors) {
  test(`complete: ${provider} answers with content, usage and model`, async () => {
    const prompt = `[[reply:Hello from ${provider}]] hi`;
    const r = await client.complete({ provider, model, prompt, maxTokens: 50, temperature: 0.2 });
    assert.equal(r.content, `Hello from ${provider}`);
    assert.equal(r.provider, provider);
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.usage.promptTokens, Math.ceil([...prompt].length / 4));
    assert.ok(r.usage.completionTokens >= 3, JSON.stringify(r.usage));
    assert.equal(r.usage.totalTokens, r.usage.promptTokens + r.usage.completionTokens);
    assert.equal(r.executionTime, r.latencyMs);
    assert.ok(r.latencyMs > 0);
  });

  test(`stream: ${provider} yields the text piece by piece, then the response`, async () => {
    const stream = client.stream({ provider, model, prompt: '[[lorem:40]]', maxTokens: 500 });
    let text = '';
    let pieces = 0;
    for await (const d of stream) {
      assert.equal(typeof d.text, 'string');
      text += d.text;
      pieces += 1;
    }
    const r = await stream.response;
    assert.ok(pieces >= 1);
    assert.equal(text, r.content);
    assert.equal(r.usage.completionTokens, 40);
    assert.ok(text.split(/\s+/).filter(Boolean).length >= 30, text);
  });
}

test('complete: systemPrompt and messages are sent', async () => {
  const r = await client.complete({
    provider: 'openai', model: 'gpt-4o-mini', systemPrompt: 'Be brief.',
    messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'ok' },
               { role: 'user', content: '[[echo]] the last words' }],
  });
  assert.equal(r.content, 'the last words');
  const expected = ['Be brief.', 'first', 'ok', '[[echo]] the last words']
    .reduce((n, s) => n + Math.ceil([...s].length / 4), 0);
  assert.equal(r.usage.promptTokens, expected);
});

test('complete: cost is computed from the price table', async () => {
  const r = await client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: '[[lorem:100]]' });
  const m = client.models('openai').find((x) => x.id === 'gpt-4o-mini');
  assert.ok(m && m.inputPerMtok > 0, 'gpt-4o-mini has a price');
  const expected = (r.usage.promptTokens * m.inputPerMtok + r.usage.completionTokens * m.outputPerMtok) / 1e6;
  assert.ok(Math.abs(r.cost - expected) < 1e-12, `${r.cost} vs ${expected}`);
});

test('errors: 429 with retry-after is a RateLimitError with status and retryAfterMs', async () => {
  await assert.rejects(
    client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: '[[status:429 retry-after=7]]' }),
    (e) => {
      assert.ok(e instanceof chorus.RateLimitError);
      assert.ok(e instanceof chorus.ChorusError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.status, 429);
      assert.equal(e.provider, 'openai');
      assert.equal(e.retryAfterMs, 7000);
      return true;
    });
});

test('errors: each vendor maps its failures to the right class', async () => {
  const cases = [
    ['anthropic', 'claude-3-5-haiku', '[[status:529]]', chorus.OverloadedError, 529],
    ['gemini', 'gemini-2.0-flash', '[[status:500]]', chorus.ServerError, 500],
    ['openai', 'gpt-4o-mini', '[[status:503]]', chorus.OverloadedError, 503],
    ['deepseek', 'deepseek-chat', '[[status:400]]', chorus.BadRequestError, 400],
  ];
  for (const [provider, model, prompt, cls, status] of cases) {
    await assert.rejects(client.complete({ provider, model, prompt }), (e) => {
      assert.ok(e instanceof cls, `${provider}: ${e.name} ${e.message}`);
      assert.equal(e.status, status);
      assert.equal(e.provider, provider);
      return true;
    });
  }
});

test('errors: a rejected key is an AuthError and the key is not in the message', async () => {
  const bad = new chorus.Client({ baseUrls: fake.baseUrls(), apiKeys: { openai: 'invalid-sk-secret123' } });
  await assert.rejects(bad.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: 'hi' }), (e) => {
    assert.ok(e instanceof chorus.AuthError, e.name);
    assert.equal(e.status, 401);
    assert.ok(!e.message.includes('secret123'), e.message);
    return true;
  });
});

test('errors: a stream cut mid-way rejects the iterator and keeps the text received', async () => {
  const stream = client.stream({ provider: 'anthropic', model: 'claude-3-5-haiku',
                                 prompt: '[[lorem:20]] [[midstream-error]]' });
  let text = '';
  await assert.rejects(async () => { for await (const d of stream) text += d.text; }, (e) => {
    assert.ok(e instanceof chorus.OverloadedError, `${e.name}: ${e.message}`);
    return true;
  });
  assert.ok(text.length > 0);
  await assert.rejects(stream.response, chorus.OverloadedError);
});

test('errors: bad arguments name the field', async () => {
  await assert.rejects(client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: 'x', temperature: 'hot' }),
                       (e) => e instanceof chorus.InvalidArgumentError && /temperature/.test(e.message));
  await assert.rejects(client.complete({ provider: 'openai', model: 'gpt-4o-mini', prompt: 'x', temperature: 5 }),
                       (e) => e instanceof chorus.InvalidArgumentError && /temperature/.test(e.message));
  await assert.rejects(client.complete({ provider: 'openai', prompt: 'x' }),
                       (e) => e instanceof chorus.InvalidArgumentError && /model/.test(e.message));
  await assert.rejects(client.complete({ provider: 'nope', model: 'm', prompt: 'x' }),
                       (e) => e instanceof chorus.UnknownProviderError && /nope/.test(e.message));
  assert.throws(() => new chorus.Client({ timeoutMs: -1 }), chorus.InvalidArgumentError);
});

test('providers and models are listed', () => {
  const ids = client.providers();
  for (const id of ['openai', 'anthropic', 'gemini', 'deepseek', 'simulated']) assert.ok(ids.includes(id), id);
  assert.ok(client.models('anthropic').length > 0);
  assert.throws(() => client.models('nope'), chorus.UnknownProviderError);
});
