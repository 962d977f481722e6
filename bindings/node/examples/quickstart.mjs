// One call, one stream, one error: the `simulated` provider needs no key and no network.
import { Client, ChorusError, RateLimitError } from 'chorus';

const client = new Client(); // keys and base URLs from the environment (OPENAI_API_KEY, ...)

const r = await client.complete({
  provider: 'simulated', model: 'sim-fast',
  systemPrompt: 'You are concise.', prompt: 'Name three teas.', temperature: 0.2, maxTokens: 200,
});
console.log(r.content);
console.log(`${r.usage.totalTokens} tokens, $${r.cost?.toFixed(6)}, ${r.executionTime.toFixed(1)} ms`);

const stream = client.stream({ provider: 'simulated', model: 'sim-fast', prompt: 'Tell me about oolong.' });
for await (const delta of stream) process.stdout.write(delta.text);
const final = await stream.response;
console.log(`\n(${final.usage.completionTokens} tokens streamed)`);

try {
  // `[[status:429 ...]]` asks the simulated provider for a rate-limit error.
  await client.complete({ provider: 'simulated', model: 'sim-fast', prompt: '[[status:429 retry-after=2]] hi' });
} catch (e) {
  if (e instanceof RateLimitError) console.log(`rate limited (HTTP ${e.status}), retry in ${e.retryAfterMs} ms`);
  else if (e instanceof ChorusError) console.log(`${e.code}: ${e.message}`);
  else throw e;
}
