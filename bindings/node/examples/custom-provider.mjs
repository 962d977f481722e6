// A provider written in JS (the seed's LLMProvider shape) used by a workflow next to built-ins.
import { Client, RateLimitError, run } from 'chorus';

/** @type {import('chorus').LLMProvider} */
const reverser = {
  id: 'reverser',
  name: 'Reverser',
  models: ['rev-1'],
  async execute(prompt, config) {
    if (prompt.includes('too fast')) throw new RateLimitError('slow down', { status: 429, retryAfterMs: 1000 });
    const content = prompt.split(' ').reverse().join(' ');
    return { content, model: config.model, usage: { promptTokens: 3, completionTokens: 3, totalTokens: 6 } };
  },
  async *stream(prompt) {
    const words = prompt.split(' ').reverse();
    for (const [i, word] of words.entries()) yield i ? ` ${word}` : word;
  },
};

const client = new Client().registerProvider(reverser);

const r = await client.complete({ provider: 'reverser', model: 'rev-1', prompt: 'one two three' });
console.log(r.content); // "three two one"

const result = await run({
  id: 'mixed', name: 'JS provider then simulated model',
  nodes: [
    { id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
    { id: 'flip', type: 'llm', position: { x: 200, y: 0 }, data: { provider: 'reverser', model: 'rev-1', prompt: '{{input}}' } },
    { id: 'answer', type: 'llm', position: { x: 400, y: 0 }, data: { provider: 'simulated', model: 'sim-fast', prompt: '[[echo]] {{input}}' } },
    { id: 'out', type: 'output', position: { x: 600, y: 0 }, data: {} },
  ],
  edges: [
    { id: 'e1', source: 'in', target: 'flip' },
    { id: 'e2', source: 'flip', target: 'answer' },
    { id: 'e3', source: 'answer', target: 'out' },
  ],
}, 'world hello', { client });
console.log(result.output.trim()); // "hello world"
