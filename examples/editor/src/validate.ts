// Live validation on the canvas: local checks run on every change; the server's (the library's)
// `invalid_workflow` details are mapped onto the same issue list so both outline nodes/edges.
import { hasDefaultSource, sourceHandles } from './nodeKinds';
import type { ValidationIssue, WorkflowEdge, WorkflowNode } from './types';

export function validateLocal(nodes: WorkflowNode[], edges: WorkflowEdge[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (message: string, ref: { nodeId?: string; edgeId?: string } = {}) =>
    issues.push({ ...ref, message, source: 'local' });
  const byId = new Map<string, WorkflowNode>();
  for (const n of nodes) {
    if (byId.has(n.id)) add(`duplicate node id "${n.id}"`, { nodeId: n.id });
    byId.set(n.id, n);
  }
  if (nodes.length > 0) {
    if (!nodes.some((n) => n.type === 'input')) add('workflow has no input node');
    if (!nodes.some((n) => n.type === 'output')) add('workflow has no output node');
  }
  const incoming = new Map<string, number>();
  for (const e of edges) {
    const src = byId.get(e.source);
    const dst = byId.get(e.target);
    if (!src) add(`edge "${e.id}": source "${e.source}" does not exist`, { edgeId: e.id });
    if (!dst) add(`edge "${e.id}": target "${e.target}" does not exist`, { edgeId: e.id });
    if (e.source === e.target) add(`edge "${e.id}" connects node "${e.source}" to itself`, { edgeId: e.id });
    if (src && (src.type === 'router' || src.type === 'loop' || e.sourceHandle)) {
      const handles = sourceHandles(src.type, src.data ?? {});
      const ok = e.sourceHandle ? handles.includes(e.sourceHandle) : hasDefaultSource(src.type);
      if (!ok)
        add(`edge "${e.id}": "${e.sourceHandle ?? ''}" is not an output of ${src.type} "${src.id}"`, { edgeId: e.id });
    }
    if (dst) incoming.set(dst.id, (incoming.get(dst.id) ?? 0) + 1);
  }
  for (const n of nodes) {
    const d = n.data ?? {};
    if (n.type !== 'input' && !n.parentId && (incoming.get(n.id) ?? 0) === 0)
      add(`node "${n.id}" has no incoming edge`, { nodeId: n.id });
    if (n.type === 'llm') {
      if (!d.provider) add(`node "${n.id}": provider is required`, { nodeId: n.id });
      if (!d.model) add(`node "${n.id}": model is required`, { nodeId: n.id });
      if (!d.prompt || String(d.prompt).trim() === '') add(`node "${n.id}": prompt is empty`, { nodeId: n.id });
      const t = d.temperature;
      if (t !== undefined && (typeof t !== 'number' || t < 0 || t > 2))
        add(`node "${n.id}": temperature must be between 0 and 2`, { nodeId: n.id });
      const mt = d.maxTokens;
      if (mt !== undefined && (typeof mt !== 'number' || !Number.isInteger(mt) || mt <= 0))
        add(`node "${n.id}": maxTokens must be a positive integer`, { nodeId: n.id });
    }
    if (n.type === 'router' && sourceHandles('router', d).length === 0)
      add(`node "${n.id}": router needs at least one route`, { nodeId: n.id });
    if (n.type === 'loop') {
      const m = d.maxIterations;
      if (typeof m !== 'number' || !Number.isInteger(m) || m < 1)
        add(`node "${n.id}": maxIterations must be a positive integer`, { nodeId: n.id });
    }
    if (n.parentId && !byId.has(n.parentId)) add(`node "${n.id}": parent "${n.parentId}" does not exist`, { nodeId: n.id });
    for (const ref of templateRefs(d)) {
      if (!byId.has(ref)) add(`node "${n.id}": template refers to unknown node "${ref}"`, { nodeId: n.id });
    }
  }
  // A cycle is legal only when a loop node is on it.
  for (const cycle of findCycles(nodes, edges)) {
    if (!cycle.some((id) => byId.get(id)?.type === 'loop'))
      for (const id of cycle) add(`node "${id}" is on a cycle without a loop node`, { nodeId: id });
  }
  return issues;
}

function templateRefs(d: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const v of Object.values(d)) {
    if (typeof v !== 'string') continue;
    for (const m of v.matchAll(/\{\{\s*nodes\.([A-Za-z0-9_-]+)\.[A-Za-z]+\s*\}\}/g)) out.push(m[1]);
  }
  return out;
}

/** Strongly connected components with more than one node (Tarjan). */
function findCycles(nodes: WorkflowNode[], edges: WorkflowEdge[]): string[][] {
  const adj = new Map<string, string[]>();
  for (const n of nodes) adj.set(n.id, []);
  for (const e of edges) adj.get(e.source)?.push(e.target);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!idx.has(w)) {
        if (!adj.has(w)) continue;
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.reverse());
    }
  };
  for (const n of nodes) if (!idx.has(n.id)) visit(n.id);
  return out;
}

/**
 * Maps an API error's `details` (whatever shape the server uses for `invalid_workflow`) to
 * issues. Accepts an array of issues, or an object with `issues`/`errors`/`problems`; each item
 * may name `nodeId`/`node`/`edgeId`/`edge` or a JSON path like `nodes[2]` / `/edges/0`.
 */
export function issuesFromServer(
  details: unknown,
  fallbackMessage: string,
  nodes: WorkflowNode[],
  edges: WorkflowEdge[],
): ValidationIssue[] {
  let list: unknown[] = [];
  if (Array.isArray(details)) list = details;
  else if (details && typeof details === 'object') {
    const d = details as Record<string, unknown>;
    const arr = d.issues ?? d.errors ?? d.problems ?? d.validation;
    if (Array.isArray(arr)) list = arr;
    else if (d.nodeId || d.edgeId || d.node || d.edge || d.path) list = [d];
  }
  if (list.length === 0) return [{ message: fallbackMessage, source: 'server' }];
  return list.map((item) => {
    if (typeof item === 'string') return { message: item, source: 'server' as const };
    const it = (item ?? {}) as Record<string, unknown>;
    const message = String(it.message ?? it.msg ?? it.error ?? fallbackMessage);
    let nodeId = str(it.nodeId ?? it.node ?? it.node_id);
    let edgeId = str(it.edgeId ?? it.edge ?? it.edge_id);
    const path = str(it.path ?? it.pointer ?? it.field);
    if (!nodeId && !edgeId && path) {
      const m = /(nodes|edges)(?:\[|\/)(\d+)/.exec(path);
      if (m) {
        const i = Number(m[2]);
        if (m[1] === 'nodes') nodeId = nodes[i]?.id;
        else edgeId = edges[i]?.id;
      }
    }
    return { nodeId, edgeId, message, source: 'server' as const };
  });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
