// Run state: a pure reducer over server-sent run events (live runs and replays of past ones),
// and a small store that applies batches of events.
import { create } from 'zustand';
import type { NodeRunState, RunEvent, RunState, Usage } from '../types';

export const ZERO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

export function initialRun(nodeIds: string[] = []): RunState {
  const nodes: Record<string, NodeRunState> = {};
  for (const id of nodeIds) nodes[id] = { status: 'pending', text: '', attempts: 0 };
  return { status: 'idle', nodes, usage: { ...ZERO_USAGE }, cost: 0 };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Accepts camelCase or snake_case usage objects. */
export function parseUsage(v: unknown): Usage | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const u = v as Record<string, unknown>;
  const p = num(u.promptTokens ?? u.prompt_tokens ?? u.inputTokens ?? u.input_tokens) ?? 0;
  const c = num(u.completionTokens ?? u.completion_tokens ?? u.outputTokens ?? u.output_tokens) ?? 0;
  const t = num(u.totalTokens ?? u.total_tokens) ?? p + c;
  return { promptTokens: p, completionTokens: c, totalTokens: t };
}

function errorText(v: unknown): string | undefined {
  if (v == null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.message === 'string') {
      const kind = o.kind ?? o.code;
      return kind ? `${String(kind)}: ${o.message}` : o.message;
    }
  }
  return JSON.stringify(v);
}

/** Fields of a node result may sit at the event's top level or under `result`. */
function resultOf(ev: RunEvent): Record<string, unknown> {
  const r = ev.result;
  return r && typeof r === 'object' ? { ...ev, ...(r as Record<string, unknown>) } : ev;
}

function addUsage(a: Usage, b: Usage): Usage {
  return {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
}

/** Run totals as the sum of every node's (cumulative) figures. */
function withTotals(s: RunState): RunState {
  let usage = { ...ZERO_USAGE };
  let cost = 0;
  for (const n of Object.values(s.nodes)) {
    if (n.usage) usage = addUsage(usage, n.usage);
    cost += n.cost ?? 0;
  }
  return { ...s, usage, cost };
}

export function reduceRunEvent(state: RunState, ev: RunEvent): RunState {
  const nodeId = typeof ev.nodeId === 'string' ? ev.nodeId : typeof ev.node === 'string' ? (ev.node as string) : undefined;
  const node = (id: string): NodeRunState => state.nodes[id] ?? { status: 'pending', text: '', attempts: 0 };
  const withNode = (id: string, patch: Partial<NodeRunState>): RunState => ({
    ...state,
    nodes: { ...state.nodes, [id]: { ...node(id), ...patch } },
  });

  switch (ev.type) {
    case 'run_started': {
      const ids = Array.isArray(ev.nodes) ? (ev.nodes as unknown[]).map((n) => (typeof n === 'string' ? n : String((n as { id?: unknown }).id))) : [];
      const base = ids.length ? initialRun(ids) : { ...initialRun(), nodes: Object.fromEntries(Object.keys(state.nodes).map((k) => [k, { status: 'pending' as const, text: '', attempts: 0 }])) };
      const executionId = ev.executionId ?? ev.runId ?? ev.id;
      return {
        ...base,
        status: 'running',
        // The server's execution id (X-Execution-Id, set before) wins over the library's run id.
        executionId: state.executionId ?? (typeof executionId === 'string' || typeof executionId === 'number' ? String(executionId) : undefined),
        startedAt: num(ev.timestamp) ?? state.startedAt,
      };
    }
    case 'node_started': {
      if (!nodeId) return state;
      const n = node(nodeId);
      const item = num(ev.item);
      const active = (n.active ?? 0) + 1;
      if (item !== undefined) {
        // Map body: items run concurrently; each keeps its own text, the node shows the latest.
        const items = { ...(n.items ?? {}), [item]: '' };
        return withNode(nodeId, { status: 'running', active, items, lastItem: item, text: '', attempts: n.attempts + 1 });
      }
      return withNode(nodeId, { status: 'running', active, text: '', iteration: num(ev.iteration) ?? n.iteration, attempts: n.attempts + 1 });
    }
    case 'token': {
      if (!nodeId) return state;
      const n = node(nodeId);
      const piece = typeof ev.text === 'string' ? ev.text : '';
      const item = num(ev.item);
      if (item !== undefined) {
        const text = (n.items?.[item] ?? '') + piece;
        return withNode(nodeId, { status: 'running', items: { ...(n.items ?? {}), [item]: text }, lastItem: item, text });
      }
      return withNode(nodeId, { status: 'running', text: n.text + piece });
    }
    case 'node_retry': {
      if (!nodeId) return state;
      const n = node(nodeId);
      const item = num(ev.item);
      // A retry starts the text over; the attempt count shows on the node.
      const items = item !== undefined ? { ...(n.items ?? {}), [item]: '' } : n.items;
      return withNode(nodeId, { status: 'running', text: '', items, attempts: n.attempts + 1, error: errorText(ev.error ?? ev.message) });
    }
    case 'node_finished': {
      if (!nodeId) return state;
      const n = node(nodeId);
      const r = resultOf(ev);
      const output = r.output ?? r.content ?? n.text;
      const active = Math.max(0, (n.active ?? 1) - 1);
      // `result` is the node's NodeResult so far (all its loop iterations / map items): it
      // replaces the node's figures, and the run's totals are the sum over nodes.
      return withTotals(
        withNode(nodeId, {
          status: active > 0 ? 'running' : 'done',
          active,
          output,
          text: typeof output === 'string' ? output : n.text,
          usage: parseUsage(r.usage) ?? n.usage,
          cost: num(r.cost ?? r.costUsd) ?? n.cost,
          latencyMs: num(r.latencyMs ?? r.latency_ms ?? r.durationMs ?? r.elapsedMs) ?? n.latencyMs,
          error: errorText(ev.error) ?? undefined,
        }),
      );
    }
    case 'node_failed': {
      if (!nodeId) return state;
      const n = node(nodeId);
      const r = resultOf(ev);
      const st = String(ev.status ?? '');
      return withTotals(
        withNode(nodeId, {
          status: 'failed',
          active: 0,
          error: errorText(ev.error ?? r.error ?? r.message) ?? (st || 'failed'),
          usage: parseUsage(r.usage) ?? n.usage,
          cost: num(r.cost) ?? n.cost,
        }),
      );
    }
    case 'node_skipped':
      if (!nodeId) return state;
      return withNode(nodeId, { status: 'skipped' });
    case 'run_finished': {
      const r = resultOf(ev);
      const raw = String(r.status ?? (r.error ? 'failed' : 'succeeded')).toLowerCase();
      const status: RunState['status'] =
        raw === 'cancelled' || raw === 'canceled' ? 'cancelled' : raw === 'budget_exceeded' ? 'budget_exceeded' : raw === 'failed' || raw === 'error' ? 'failed' : 'succeeded';
      const usage = parseUsage(r.usage ?? r.totalUsage);
      const cost = num(r.cost ?? r.totalCost);
      // Nodes that never ran stay pending in a finished run only if they were really skipped.
      const nodes = { ...state.nodes };
      if (status !== 'succeeded')
        for (const [id, n] of Object.entries(nodes)) if (n.status === 'running') nodes[id] = { ...n, status: 'failed', active: 0, error: n.error ?? raw };
      return {
        ...state,
        nodes,
        status,
        output: r.output ?? state.output,
        usage: usage ?? state.usage,
        cost: cost ?? state.cost,
        durationMs: num(r.durationMs ?? r.wallTimeMs ?? r.wall_time_ms ?? r.latencyMs ?? r.elapsedMs) ?? state.durationMs,
        error: errorText(r.error) ?? state.error,
      };
    }
    default:
      return state; // unknown event types are ignored, so newer servers do not break the editor
  }
}

export function reduceRunEvents(state: RunState, events: RunEvent[]): RunState {
  return events.reduce(reduceRunEvent, state);
}

/**
 * Rebuilds a past run's state from an execution record: from its stored events when present,
 * otherwise from its per-node results.
 */
export function runFromExecution(rec: Record<string, unknown>, nodeIds: string[] = []): RunState {
  if (Array.isArray(rec.events) && rec.events.length > 0) {
    const s = reduceRunEvents(initialRun(nodeIds), rec.events as RunEvent[]);
    return { ...s, executionId: String(rec.id ?? s.executionId ?? '') };
  }
  let s: RunState = { ...initialRun(nodeIds), status: 'running', executionId: rec.id != null ? String(rec.id) : undefined };
  const results = rec.nodeResults ?? rec.node_results ?? rec.nodes;
  const entries: [string, Record<string, unknown>][] = Array.isArray(results)
    ? (results as Record<string, unknown>[]).map((r) => [String(r.nodeId ?? r.id), r])
    : results && typeof results === 'object'
      ? Object.entries(results as Record<string, Record<string, unknown>>)
      : [];
  for (const [id, r] of entries) {
    const st = String(r.status ?? 'done').toLowerCase();
    const type = st === 'failed' || st === 'error' ? 'node_failed' : st === 'skipped' ? 'node_skipped' : 'node_finished';
    s = reduceRunEvent(s, { ...r, type, nodeId: id });
  }
  return reduceRunEvent(s, {
    type: 'run_finished',
    status: rec.status,
    output: rec.output,
    usage: rec.usage ?? rec.totalUsage,
    cost: rec.cost ?? rec.totalCost,
    durationMs: rec.durationMs ?? rec.wallTimeMs ?? elapsed(rec.startedAt, rec.finishedAt),
    error: rec.error,
  });
}

/** Milliseconds between two ISO times, or undefined. */
export function elapsed(a: unknown, b: unknown): number | undefined {
  if (typeof a !== 'string' || typeof b !== 'string') return undefined;
  const d = Date.parse(b) - Date.parse(a);
  return Number.isFinite(d) && d >= 0 ? d : undefined;
}

interface RunStore {
  run: RunState;
  start(nodeIds: string[]): void;
  setExecutionId(id: string): void;
  apply(events: RunEvent[]): void;
  set(run: RunState): void;
  fail(message: string): void;
  clear(): void;
}

export const useRun = create<RunStore>()((set) => ({
  run: initialRun(),
  start: (nodeIds) => set({ run: { ...initialRun(nodeIds), status: 'running', startedAt: Date.now() } }),
  setExecutionId: (id) => set((s) => ({ run: { ...s.run, executionId: s.run.executionId ?? id } })),
  apply: (events) => set((s) => ({ run: reduceRunEvents(s.run, events) })),
  set: (run) => set({ run }),
  fail: (message) => set((s) => ({ run: { ...s.run, status: 'failed', error: message } })),
  clear: () => set({ run: initialRun() }),
}));
