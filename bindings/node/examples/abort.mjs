// Cancelling: an AbortSignal stops the C++ operation (the HTTP request is closed at once).
import { CancelledError, Client, run } from 'chorus';

const client = new Client();

try {
  const stream = client.stream(
    { provider: 'simulated', model: 'sim-fast', prompt: '[[lorem:5000]] [[token-delay:5]]' },
    { signal: AbortSignal.timeout(100) });
  for await (const d of stream) process.stdout.write(d.text.slice(0, 0));
} catch (e) {
  if (!(e instanceof CancelledError)) throw e;
  console.log(`stream cancelled after ${e.response?.content.length ?? 0} characters`);
}

const controller = new AbortController();
const pending = run({
  nodes: [
    { id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
    { id: 'slow', type: 'llm', position: { x: 0, y: 0 }, data: { provider: 'simulated', model: 'sim-fast', prompt: '[[lorem:5000]] [[token-delay:5]]' } },
    { id: 'out', type: 'output', position: { x: 0, y: 0 }, data: {} },
  ],
  edges: [{ id: 'a', source: 'in', target: 'slow' }, { id: 'b', source: 'slow', target: 'out' }],
}, '', { client, signal: controller.signal, onEvent: (ev) => { if (ev.type === 'token') controller.abort(); } });
const outcome = await pending.catch((e) => e);
if (outcome instanceof CancelledError) console.log(`run ${outcome.result?.status}: node slow ${outcome.result?.nodes.slow.status}`);
