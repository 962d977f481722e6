// Run a workflow document: validate it, run it with live events and a budget, read the result.
import { Workflow, run, runStream } from 'chorus';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../../../examples/workflows/draft-critique-rewrite.json', import.meta.url));
const wf = Workflow.fromFile(file);

const problems = wf.validate();
if (problems.some((p) => p.severity === 'error')) {
  for (const p of problems) console.error(`${p.severity}: ${p.nodeId ?? ''} ${p.message}`);
  process.exit(1);
}

const result = await run(wf, 'a short note on green tea for a café menu', {
  maxCostUsd: 0.5,
  onEvent: (ev) => {
    if (ev.type === 'node_finished') console.log(`✓ ${ev.nodeId}`);
    if (ev.type === 'node_failed') console.log(`✗ ${ev.nodeId}: ${ev.error?.message}`);
  },
});
console.log(result.output);
for (const [id, node] of Object.entries(result.nodes)) {
  console.log(`${id.padEnd(16)} ${node.status.padEnd(10)} ${node.usage.totalTokens} tokens $${(node.cost ?? 0).toFixed(6)}`);
}
console.log(`total: ${result.usage.totalTokens} tokens, $${result.cost?.toFixed(6)}, ${result.wallTimeMs.toFixed(0)} ms`);

// The same run as a stream of events.
let tokens = 0;
const events = runStream(wf, 'a haiku about rain');
for await (const ev of events) if (ev.type === 'token') tokens += 1;
console.log(`${tokens} token events; status ${(await events.result).status}`);
