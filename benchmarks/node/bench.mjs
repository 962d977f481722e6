// One measurement in its own process: `node bench.mjs LIB MODE URL N CONCURRENCY`.
// LIB: chorus | openai | ai | langgraph; MODE: call | stream | chain. Prints one JSON line with
// the client's CPU time (user + system, the whole process: chorus's io thread included) per
// unit and the peak RSS. The fake server's CPU is not counted (another process).
const [lib, mode, url, nArg, concArg] = process.argv.slice(2);
const N = Number(nArg ?? 2000);
const CONC = Number(concArg ?? 32);
const MODEL = 'gpt-4o-mini';
// The package as built in the repository (npm install in bindings/node), not a copy.
const CHORUS = new URL('../../bindings/node/lib/index.mjs', import.meta.url).href;
const STREAM_PROMPT = '[[lorem:20]] stream twenty tokens';
const CALL_PROMPT = '[[reply:ok]] one short call';

async function makeUnit() {
  if (lib === 'chorus') {
    const { Client, run, Workflow } = await import(CHORUS);
    const client = new Client({ baseUrls: { openai: `${url}/v1` }, apiKeys: { openai: 'bench' } });
    if (mode === 'call') {
      return () => client.complete({ provider: 'openai', model: MODEL, prompt: CALL_PROMPT });
    }
    if (mode === 'stream') {
      return async () => {
        let n = 0;
        for await (const d of client.stream({ provider: 'openai', model: MODEL, prompt: STREAM_PROMPT })) n += d.text.length;
        return n;
      };
    }
    const llm = (id, prompt) => ({ id, type: 'llm', position: { x: 0, y: 0 }, data: { provider: 'openai', model: MODEL, prompt } });
    const wf = {
      nodes: [{ id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
              llm('a', '[[reply:one]] {{input}}'), llm('b', '[[reply:two]] {{input}}'), llm('c', '[[reply:three]] {{input}}'),
              { id: 'out', type: 'output', position: { x: 0, y: 0 }, data: {} }],
      edges: [{ id: '1', source: 'in', target: 'a' }, { id: '2', source: 'a', target: 'b' },
              { id: '3', source: 'b', target: 'c' }, { id: '4', source: 'c', target: 'out' }],
    };
    const parsed = Workflow.fromJSON(wf);
    return () => run(parsed, 'go', { client, streamTokens: false });
  }
  if (lib === 'openai') {
    const { default: OpenAI } = await import('openai');
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'bench', maxRetries: 0 });
    if (mode === 'call') {
      return () => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: CALL_PROMPT }] });
    }
    return async () => {
      const s = await client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: STREAM_PROMPT }] });
      let n = 0;
      for await (const c of s) n += (c.choices[0]?.delta?.content ?? '').length;
      return n;
    };
  }
  if (lib === 'ai') {
    const { generateText, streamText } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'bench' });
    const model = openai.chat(MODEL);
    if (mode === 'call') return () => generateText({ model, prompt: CALL_PROMPT, maxRetries: 0 });
    return async () => {
      const r = streamText({ model, prompt: STREAM_PROMPT, maxRetries: 0 });
      let n = 0;
      for await (const t of r.textStream) n += t.length;
      return n;
    };
  }
  if (lib === 'langgraph') {
    const { StateGraph, Annotation, START, END } = await import('@langchain/langgraph');
    const { ChatOpenAI } = await import('@langchain/openai');
    const model = new ChatOpenAI({ model: MODEL, apiKey: 'bench', configuration: { baseURL: `${url}/v1` }, maxRetries: 0 });
    const State = Annotation.Root({ text: Annotation({ reducer: (_, b) => b, default: () => '' }) });
    const node = (reply) => async (s) => ({ text: (await model.invoke(`[[reply:${reply}]] ${s.text}`)).content });
    const graph = new StateGraph(State)
      .addNode('a', node('one')).addNode('b', node('two')).addNode('c', node('three'))
      .addEdge(START, 'a').addEdge('a', 'b').addEdge('b', 'c').addEdge('c', END).compile();
    return () => graph.invoke({ text: 'go' });
  }
  throw new Error(`unknown lib ${lib}`);
}

async function drive(unit, n) {
  let next = 0;
  const worker = async () => { while (next < n) { next += 1; await unit(); } };
  await Promise.all(Array.from({ length: Math.min(CONC, n) }, worker));
}

const unit = await makeUnit();
await drive(unit, Math.max(50, Math.floor(N / 10)));  // warm-up: JIT, connection pool
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await drive(unit, N);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const units = mode === 'chain' ? N * 3 : N;  // per node for chains
console.log(JSON.stringify({
  lib, mode, n: N, concurrency: CONC,
  cpuUsPerUnit: (cpu.user + cpu.system) / units,
  wallMs: wall, maxRssMb: process.resourceUsage().maxRSS / 1024,
}));
process.exit(0);
