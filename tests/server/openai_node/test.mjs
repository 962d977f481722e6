// The official `openai` npm client against chorus-server's OpenAI-compatible endpoint. Started by
// tests/server/test_openai_compat.py with CHORUS_BASE_URL (…/v1), CHORUS_TOKEN (a personal API
// token) and CHORUS_WORKFLOW_ID (a workflow whose version 1 replies "first version" and whose
// version 2 streams 20 lorem words).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const baseURL = process.env.CHORUS_BASE_URL;
const apiKey = process.env.CHORUS_TOKEN;
const id = process.env.CHORUS_WORKFLOW_ID;
assert.ok(baseURL && apiKey && id, 'CHORUS_BASE_URL, CHORUS_TOKEN and CHORUS_WORKFLOW_ID are required');
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

test('non-streamed completion of a pinned version', async () => {
  const r = await client.chat.completions.create({
    model: `workflow:${id}@1`,
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, `workflow:${id}@1`);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'first version');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.total_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(r.chorus.workflowVersion, 1);
  assert.match(r.chorus.executionId, /\S+/);
});

test('streamed completion with usage', async () => {
  const stream = await client.chat.completions.create({
    model: `workflow:${id}`,
    messages: [{ role: 'system', content: 'x' }, { role: 'user', content: [{ type: 'text', text: 'the end' }] }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const pieces = chunks.flatMap((c) => (c.choices[0]?.delta?.content ? [c.choices[0].delta.content] : []));
  assert.ok(pieces.length >= 10, `expected token-by-token deltas, got ${pieces.length}`);
  // The simulated model is deterministic: the same request unstreamed gives the same text.
  const whole = await client.chat.completions.create({
    model: `workflow:${id}`,
    messages: [{ role: 'user', content: 'the end' }],
  });
  assert.equal(pieces.join(''), whole.choices[0].message.content);
  assert.ok(whole.choices[0].message.content.length > 50);
  const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finish.length, 1);
  assert.equal(finish[0].choices[0].finish_reason, 'stop');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.total_tokens > 0 && last.usage.completion_tokens > 0);
});

test('errors: unknown model, bad messages, bad token', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'workflow:nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found' && e.param === 'model',
  );
  await assert.rejects(
    client.chat.completions.create({ model: `workflow:${id}`, messages: [{ role: 'assistant', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages',
  );
  const stranger = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('models list the workflows', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(`workflow:${id}`), ids.join(','));
});
