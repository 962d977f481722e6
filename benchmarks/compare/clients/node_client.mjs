// Node clients of the peer comparison (benchmarks/compare/run): one system, one workload, N
// units, CONCURRENCY in flight, against an OpenAI-compatible BASE_URL (chorus-fake-llm), then ONE
// JSON line on stdout. The runner measures this process from outside (wait4: CPU user+sys, peak
// RSS; wall time), so imports and set-up count; a slope between two values of N removes them.
//
//   node node_client.mjs SYSTEM WORKLOAD N CONCURRENCY BASE_URL
//
// SYSTEM: chorus | openai | ai (Vercel AI SDK + @ai-sdk/openai) | langgraph (@langchain/langgraph
// + @langchain/openai). WORKLOAD: call | stream (chorus, openai, ai); chain | fanout | concurrent
// (chorus, langgraph). The chorus package is CHORUS_NODE_PACKAGE (a built bindings/node); the
// peers resolve from the folder this file is run from (the runner copies it next to their
// node_modules). Exit status 0 when every unit succeeded.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [system, workload, nArg, concArg, url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node node_client.mjs SYSTEM WORKLOAD N CONCURRENCY BASE_URL');
  process.exit(2);
}
const N = Number(nArg);
let CONC = Number(concArg);
const MODEL = 'gpt-4o-mini';
const KEY = 'sk-compare-bench';
let hold = '';
if (workload === 'concurrent') {
  hold = ` [[latency:${process.env.CHORUS_COMPARE_HOLD_MS || '500'}]]`;
  CONC = Math.max(N, 1);
}

const pos = { x: 0, y: 0 };
const llmNode = (id, prompt) => ({ id, type: 'llm', position: pos, data: { provider: 'openai', model: MODEL, prompt } });
const edge = (source, target) => ({ id: `${source}-${target}`, source, target });

function chainDoc() {
  const ids = ['in', 'a', 'b', 'c', 'out'];
  return {
    id: 'chain3',
    nodes: [{ id: 'in', type: 'input', position: pos, data: {} },
            llmNode('a', `Step one: {{input}}${hold}`), llmNode('b', `Step two: {{input}}${hold}`),
            llmNode('c', `Step three: {{input}}${hold}`), { id: 'out', type: 'output', position: pos, data: {} }],
    edges: ids.slice(1).map((t, i) => edge(ids[i], t)),
  };
}

function fanoutDoc() {
  const nodes = [{ id: 'in', type: 'input', position: pos, data: {} }];
  const edges = [];
  for (let i = 0; i < 10; ++i) {
    nodes.push(llmNode(`w${i}`, `Worker ${i}: {{input}}`));
    edges.push(edge('in', `w${i}`), edge(`w${i}`, 'merge'));
  }
  nodes.push({ id: 'merge', type: 'merge', position: pos, data: { mode: 'all' } },
             { id: 'out', type: 'output', position: pos, data: {} });
  edges.push(edge('merge', 'out'));
  return { id: 'fanout10', nodes, edges };
}

// Returns an async function doing unit i and resolving to the answer's length (must be > 0).
async function makeUnit() {
  if (system === 'chorus') {
    const pkg = process.env.CHORUS_NODE_PACKAGE;
    if (!pkg) throw new Error('CHORUS_NODE_PACKAGE is not set');
    const { Client, run, Workflow } = await import(pathToFileURL(path.join(pkg, 'lib', 'index.mjs')).href);
    const client = new Client({ baseUrls: { openai: `${url}/v1` }, apiKeys: { openai: KEY }, maxRetries: 0 });
    if (workload === 'call') {
      return async (i) => (await client.complete({ provider: 'openai', model: MODEL, prompt: `Say something, call ${i}` })).content.length;
    }
    if (workload === 'stream') {
      return async (i) => {
        let n = 0;
        for await (const d of client.stream({ provider: 'openai', model: MODEL, prompt: `Stream something, call ${i}` })) n += d.text.length;
        return n;
      };
    }
    const wf = Workflow.fromJSON(workload === 'fanout' ? fanoutDoc() : chainDoc());
    return async (i) => {
      const r = await run(wf, `topic ${i}`, { client, streamTokens: false });
      if (r.status !== 'succeeded') throw new Error(`run ${i}: ${r.status}`);
      return r.output.length;
    };
  }
  if (system === 'openai') {
    const { default: OpenAI } = await import('openai');
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
    if (workload === 'call') {
      return async (i) => {
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `Say something, call ${i}` }] });
        return (r.choices[0].message.content ?? '').length;
      };
    }
    return async (i) => {
      const s = await client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: `Stream something, call ${i}` }] });
      let n = 0;
      for await (const c of s) n += (c.choices[0]?.delta?.content ?? '').length;
      return n;
    };
  }
  if (system === 'ai') {
    const { generateText, streamText } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const model = createOpenAI({ baseURL: `${url}/v1`, apiKey: KEY }).chat(MODEL);
    if (workload === 'call') {
      return async (i) => (await generateText({ model, prompt: `Say something, call ${i}`, maxRetries: 0 })).text.length;
    }
    return async (i) => {
      const r = streamText({ model, prompt: `Stream something, call ${i}`, maxRetries: 0 });
      let n = 0;
      for await (const t of r.textStream) n += t.length;
      return n;
    };
  }
  if (system === 'langgraph') {
    const { StateGraph, Annotation, START, END } = await import('@langchain/langgraph');
    const { ChatOpenAI } = await import('@langchain/openai');
    const llm = new ChatOpenAI({ model: MODEL, apiKey: KEY, configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
    if (workload === 'fanout') {
      const State = Annotation.Root({
        topic: Annotation(),
        parts: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
        out: Annotation(),
      });
      let g = new StateGraph(State);
      const workers = [];
      for (let i = 0; i < 10; ++i) {
        const name = `w${i}`;
        workers.push(name);
        g = g.addNode(name, async (s) => ({ parts: [String((await llm.invoke(`Worker ${i}: ${s.topic}`)).content)] }))
          .addEdge(START, name);
      }
      const graph = g.addNode('merge', (s) => ({ out: s.parts.join('\n\n') }))
        .addEdge(workers, 'merge').addEdge('merge', END).compile();
      return async (i) => {
        const r = await graph.invoke({ topic: `topic ${i}` });
        if (r.parts.length !== 10) throw new Error(`fan-out run ${i}: ${r.parts.length} parts`);
        return r.out.length;
      };
    }
    const State = Annotation.Root({ text: Annotation({ reducer: (_, b) => b, default: () => '' }) });
    const step = (name) => async (s) => ({ text: String((await llm.invoke(`Step ${name}: ${s.text}${hold}`)).content) });
    const graph = new StateGraph(State)
      .addNode('one', step('one')).addNode('two', step('two')).addNode('three', step('three'))
      .addEdge(START, 'one').addEdge('one', 'two').addEdge('two', 'three').addEdge('three', END).compile();
    return async (i) => (await graph.invoke({ text: `topic ${i}` })).text.length;
  }
  throw new Error(`node_client: unknown system ${system}`);
}

const t0 = performance.now();
const unit = await makeUnit();
let next = 0, ok = 0, failed = 0, firstError = '';
const worker = async () => {
  while (next < N) {
    const i = next++;
    try {
      if ((await unit(i)) > 0) { ok += 1; continue; }
      if (!firstError) firstError = 'empty answer';
    } catch (e) {
      if (!firstError) firstError = `${e?.name}: ${e?.message}`;
    }
    failed += 1;
  }
};
await Promise.all(Array.from({ length: Math.min(CONC, N) }, worker));
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage();
// VmHWM: this process's peak RSS since exec (ru_maxrss also counts the parent it was forked from).
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
if (firstError) console.error(`node_client ${system} ${workload}: ${failed} failed; first: ${firstError}`);
process.stdout.write(`${JSON.stringify({
  system, workload, n: N, ok, failed, self_cpu_s: (cpu.user + cpu.system) / 1e6, self_wall_s: wall,
  self_maxrss_kb: process.resourceUsage().maxRSS, vmhwm_kb: hwm,
})}\n`, () => process.exit(ok === N ? 0 : 1));
