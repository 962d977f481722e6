// Auto-layout with dagre (left to right). Map body nodes (parentId) keep their relative place.
import dagre from '@dagrejs/dagre';
import type { XY } from './types';

interface LayoutNode {
  id: string;
  parentId?: string;
  measured?: { width?: number; height?: number };
}

export function layoutGraph(nodes: LayoutNode[], edges: { source: string; target: string }[]): Record<string, XY> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 80, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const top = nodes.filter((n) => !n.parentId);
  for (const n of top) g.setNode(n.id, { width: n.measured?.width ?? 220, height: n.measured?.height ?? 90 });
  const ids = new Set(top.map((n) => n.id));
  for (const e of edges) if (ids.has(e.source) && ids.has(e.target) && e.source !== e.target) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const out: Record<string, XY> = {};
  for (const n of top) {
    const p = g.node(n.id);
    // dagre gives centres; React Flow positions are top-left corners. Snap to the 20px grid.
    out[n.id] = { x: Math.round((p.x - p.width / 2) / 20) * 20, y: Math.round((p.y - p.height / 2) / 20) * 20 };
  }
  return out;
}
