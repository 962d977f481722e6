// `{{…}}` autocompletion for prompt templates: which names can be inserted at the caret.

/** Upstream node ids of `nodeId` (transitively), nearest first. */
export function upstreamOf(nodeId: string, edges: { source: string; target: string }[]): string[] {
  const seen = new Set<string>([nodeId]);
  const out: string[] = [];
  let frontier = [nodeId];
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier)
      for (const e of edges)
        if (e.target === id && !seen.has(e.source)) {
          seen.add(e.source);
          out.push(e.source);
          next.push(e.source);
        }
    frontier = next;
  }
  return out;
}

export function templateVariables(nodeId: string, edges: { source: string; target: string }[]): string[] {
  return ['input', 'workflow.input', ...upstreamOf(nodeId, edges).map((id) => `nodes.${id}.output`)];
}

/**
 * If the caret sits inside an unclosed `{{`, returns the typed prefix and where it starts;
 * otherwise null.
 */
export function openPlaceholder(text: string, caret: number): { start: number; prefix: string } | null {
  const before = text.slice(0, caret);
  const open = before.lastIndexOf('{{');
  if (open < 0) return null;
  const inner = before.slice(open + 2);
  if (inner.includes('}}') || /\s{2,}|\n/.test(inner)) return null;
  return { start: open + 2, prefix: inner.trimStart() };
}

/** Inserts `name}}` for the placeholder open at the caret; returns the new text and caret. */
export function completePlaceholder(text: string, caret: number, name: string): { text: string; caret: number } {
  const p = openPlaceholder(text, caret);
  if (!p) return { text, caret };
  const after = text.slice(caret);
  const closes = after.startsWith('}}');
  const ins = name + (closes ? '' : '}}');
  return { text: text.slice(0, p.start) + ins + after, caret: p.start + ins.length + (closes ? 2 : 0) };
}
