// The one store for the graph: nodes, edges, selection, undo/redo history, clipboard, the
// document's metadata (unknown fields kept), and validation issues.
import {
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
} from '@xyflow/react';
import { create } from 'zustand';
import { defaultData } from '../nodeKinds';
import type { NodeData, NodeKind, ValidationIssue, WorkflowDocument, WorkflowMeta, WorkflowEdge, WorkflowNode, XY } from '../types';
import { validateLocal } from '../validate';

export type FlowNode = Node<NodeData>;
export type FlowEdge = Edge;

interface Snapshot {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export const HISTORY_LIMIT = 100;

// Runtime-only fields React Flow adds; never saved.
const NODE_RUNTIME = ['selected', 'dragging', 'measured', 'resizing', 'internals', 'positionAbsolute', 'className', 'style'];
const EDGE_RUNTIME = ['selected', 'className', 'animated', 'style'];

export interface GraphState {
  /** The document's own fields besides nodes/edges (id, name, description, unknown ones). */
  meta: WorkflowMeta;
  nodes: FlowNode[];
  edges: FlowEdge[];
  past: Snapshot[];
  future: Snapshot[];
  clipboard: Snapshot | null;
  localIssues: ValidationIssue[];
  serverIssues: ValidationIssue[];
  dirty: boolean;
  readOnly: boolean;
  snapToGrid: boolean;

  load(doc: WorkflowDocument, opts?: { readOnly?: boolean }): void;
  reset(name?: string): void;
  toDocument(): WorkflowDocument;
  setName(name: string): void;
  setMeta(patch: Record<string, unknown>): void;
  markSaved(id?: string): void;

  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  connect(c: Connection): string | null;
  /** Adds a node (selected, alone); `parentId` puts it in a map node's body (position relative). */
  addNode(kind: NodeKind, position: XY, data?: NodeData, parentId?: string): string;
  updateNodeData(id: string, patch: NodeData): void;
  setPositions(positions: Record<string, XY>): void;
  deleteSelected(): void;
  select(ids: string[]): void;
  selectAll(): void;

  copy(): number;
  cut(): number;
  paste(offset?: XY): string[];

  undo(): void;
  redo(): void;
  canUndo(): boolean;
  canRedo(): boolean;

  setServerIssues(issues: ValidationIssue[]): void;
  setSnapToGrid(on: boolean): void;
}

let dragStart: Snapshot | null = null;
// Typing in one field of one node is one undo step, not one per keystroke.
let lastEdit: { key: string; at: number } | null = null;
export const EDIT_COALESCE_MS = 1500;

function snap(s: { nodes: FlowNode[]; edges: FlowEdge[] }): Snapshot {
  return { nodes: s.nodes, edges: s.edges };
}

function strip<T extends object>(o: T, keys: string[]): T {
  const out = { ...o } as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out as T;
}

export function toWorkflowNode(n: FlowNode): WorkflowNode {
  const out = strip(n, NODE_RUNTIME) as unknown as WorkflowNode;
  out.position = { x: Math.round(n.position.x * 100) / 100, y: Math.round(n.position.y * 100) / 100 };
  return out;
}

export function toWorkflowEdge(e: FlowEdge): WorkflowEdge {
  const out = strip(e, EDGE_RUNTIME) as unknown as WorkflowEdge;
  if (out.sourceHandle == null) delete out.sourceHandle;
  if (out.targetHandle == null) delete out.targetHandle;
  return out;
}

export function uniqueId(prefix: string, taken: Set<string>): string {
  let i = 1;
  while (taken.has(`${prefix}${i}`)) i++;
  return `${prefix}${i}`;
}

function validated(nodes: FlowNode[], edges: FlowEdge[]) {
  return validateLocal(nodes.map(toWorkflowNode), edges.map(toWorkflowEdge));
}

const emptyMeta = (name = 'Untitled workflow'): WorkflowMeta => ({ name });

export const useGraph = create<GraphState>()((set, get) => {
  /** Applies a graph mutation as one undoable step. */
  const commit = (next: Partial<Snapshot>, extra: Partial<GraphState> = {}) => {
    lastEdit = null;
    const s = get();
    if (s.readOnly) return;
    const nodes = next.nodes ?? s.nodes;
    const edges = next.edges ?? s.edges;
    set({
      past: [...s.past, snap(s)].slice(-HISTORY_LIMIT),
      future: [],
      nodes,
      edges,
      dirty: true,
      localIssues: validated(nodes, edges),
      serverIssues: [],
      ...extra,
    });
  };

  return {
    meta: emptyMeta(),
    nodes: [],
    edges: [],
    past: [],
    future: [],
    clipboard: null,
    localIssues: [],
    serverIssues: [],
    dirty: false,
    readOnly: false,
    snapToGrid: true,

    load(doc, opts) {
      const { nodes, edges, ...meta } = doc;
      const fnodes = (nodes ?? []).map((n) => ({ ...n, data: { ...(n.data ?? {}) } }) as FlowNode);
      const fedges = (edges ?? []).map((e) => ({ ...e }) as FlowEdge);
      dragStart = null;
      lastEdit = null;
      set({
        meta: { ...meta, name: typeof meta.name === 'string' ? meta.name : 'Untitled workflow' },
        nodes: fnodes,
        edges: fedges,
        past: [],
        future: [],
        dirty: false,
        readOnly: !!opts?.readOnly,
        localIssues: validated(fnodes, fedges),
        serverIssues: [],
      });
    },

    reset(name) {
      get().load({ ...emptyMeta(name), nodes: [], edges: [] });
    },

    toDocument() {
      const s = get();
      return { ...s.meta, nodes: s.nodes.map(toWorkflowNode), edges: s.edges.map(toWorkflowEdge) };
    },

    setName(name) {
      set((s) => ({ meta: { ...s.meta, name }, dirty: true }));
    },

    setMeta(patch) {
      set((s) => ({ meta: { ...s.meta, ...patch } }));
    },

    markSaved(id) {
      set((s) => ({ dirty: false, meta: id ? { ...s.meta, id } : s.meta }));
    },

    onNodesChange(changes) {
      const s = get();
      const allowed = s.readOnly ? changes.filter((c) => c.type === 'select' || c.type === 'dimensions') : changes;
      if (allowed.length === 0) return;
      const structural = allowed.some((c) => c.type === 'remove' || c.type === 'add' || c.type === 'replace');
      const positions = allowed.filter((c) => c.type === 'position');
      const nodes = applyNodeChanges(allowed, s.nodes);
      if (structural) {
        // Removing nodes also removes their edges (React Flow sends those separately, but a
        // keyboard delete of nodes alone must not leave dangling edges).
        const ids = new Set(nodes.map((n) => n.id));
        const edges = s.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
        commit({ nodes, edges });
        return;
      }
      if (positions.length > 0) {
        const dragging = positions.some((c) => c.type === 'position' && c.dragging);
        if (dragging && !dragStart) dragStart = snap(s);
        if (!dragging) {
          // Drag ended (or a programmatic move): one history step for the whole move.
          const before = dragStart ?? snap(s);
          dragStart = null;
          set({
            nodes,
            past: [...s.past, before].slice(-HISTORY_LIMIT),
            future: [],
            dirty: true,
          });
          return;
        }
      }
      set({ nodes });
    },

    onEdgesChange(changes) {
      const s = get();
      const allowed = s.readOnly ? changes.filter((c) => c.type === 'select') : changes;
      if (allowed.length === 0) return;
      const edges = applyEdgeChanges(allowed, s.edges);
      if (allowed.some((c) => c.type !== 'select')) commit({ edges });
      else set({ edges });
    },

    connect(c) {
      const s = get();
      if (!c.source || !c.target) return null;
      const dup = s.edges.some(
        (e) =>
          e.source === c.source &&
          e.target === c.target &&
          (e.sourceHandle ?? null) === (c.sourceHandle ?? null) &&
          (e.targetHandle ?? null) === (c.targetHandle ?? null),
      );
      if (dup) return null;
      const id = uniqueId('e', new Set(s.edges.map((e) => e.id)));
      const edge: FlowEdge = { id, source: c.source, target: c.target };
      if (c.sourceHandle) edge.sourceHandle = c.sourceHandle;
      if (c.targetHandle) edge.targetHandle = c.targetHandle;
      commit({ edges: [...s.edges, edge] });
      return id;
    },

    addNode(kind, position, data, parentId) {
      const s = get();
      const id = uniqueId(kind === 'input' ? 'in' : kind === 'output' ? 'out' : kind, new Set(s.nodes.map((n) => n.id)));
      const node: FlowNode = {
        id,
        type: kind,
        position,
        data: { ...defaultData(kind, typeof data?.provider === 'string' ? data.provider : undefined), ...(data ?? {}) },
      };
      if (parentId && s.nodes.some((n) => n.id === parentId)) node.parentId = parentId;
      commit({ nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), { ...node, selected: true }] });
      return id;
    },

    updateNodeData(id, patch) {
      const s = get();
      if (s.readOnly) return;
      const nodes = s.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n));
      const key = `${id}:${Object.keys(patch).sort().join(',')}`;
      const now = Date.now();
      if (lastEdit && lastEdit.key === key && now - lastEdit.at < EDIT_COALESCE_MS && s.past.length > 0) {
        lastEdit.at = now;
        set({ nodes, dirty: true, future: [], localIssues: validated(nodes, s.edges), serverIssues: [] });
        return;
      }
      commit({ nodes });
      lastEdit = { key, at: now };
    },

    setPositions(positions) {
      const s = get();
      commit({ nodes: s.nodes.map((n) => (positions[n.id] ? { ...n, position: positions[n.id] } : n)) });
    },

    deleteSelected() {
      const s = get();
      const gone = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
      // Deleting a map node deletes its body too.
      let grew = true;
      while (grew) {
        grew = false;
        for (const n of s.nodes)
          if (n.parentId && gone.has(n.parentId) && !gone.has(n.id)) {
            gone.add(n.id);
            grew = true;
          }
      }
      const edges = s.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
      if (gone.size === 0 && edges.length === s.edges.length) return;
      commit({ nodes: s.nodes.filter((n) => !gone.has(n.id)), edges });
    },

    select(ids) {
      const want = new Set(ids);
      set((s) => ({
        nodes: s.nodes.map((n) => (!!n.selected === want.has(n.id) ? n : { ...n, selected: want.has(n.id) })),
        edges: s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
      }));
    },

    selectAll() {
      set((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: true })), edges: s.edges.map((e) => ({ ...e, selected: true })) }));
    },

    copy() {
      const s = get();
      const nodes = s.nodes.filter((n) => n.selected);
      const ids = new Set(nodes.map((n) => n.id));
      // Only edges whose both ends are copied come along.
      const edges = s.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
      set({ clipboard: nodes.length ? { nodes: structuredClone(nodes), edges: structuredClone(edges) } : null });
      return nodes.length;
    },

    cut() {
      const n = get().copy();
      if (n) get().deleteSelected();
      return n;
    },

    paste(offset = { x: 40, y: 40 }) {
      const s = get();
      if (!s.clipboard || s.readOnly) return [];
      const taken = new Set(s.nodes.map((n) => n.id));
      const rename = new Map<string, string>();
      for (const n of s.clipboard.nodes) {
        const base = n.id.replace(/(_copy)?\d*$/, '') || 'n';
        const id = uniqueId(`${base}_copy`, taken);
        taken.add(id);
        rename.set(n.id, id);
      }
      const nodes: FlowNode[] = s.clipboard.nodes.map((n) => {
        const parentId = n.parentId && rename.has(n.parentId) ? rename.get(n.parentId) : n.parentId;
        const copy: FlowNode = {
          ...structuredClone(n),
          id: rename.get(n.id)!,
          // Children keep their position relative to a copied parent.
          position: n.parentId && rename.has(n.parentId) ? n.position : { x: n.position.x + offset.x, y: n.position.y + offset.y },
          selected: true,
        };
        if (parentId) copy.parentId = parentId;
        return copy;
      });
      const takenE = new Set(s.edges.map((e) => e.id));
      const edges: FlowEdge[] = s.clipboard.edges.map((e) => {
        const id = uniqueId('e', takenE);
        takenE.add(id);
        return { ...structuredClone(e), id, source: rename.get(e.source)!, target: rename.get(e.target)!, selected: false };
      });
      commit({
        nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...nodes],
        edges: [...s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...edges],
      });
      // Pasting again offsets further, as desktop editors do.
      set({ clipboard: { nodes: s.clipboard.nodes.map((n) => ({ ...n, position: { x: n.position.x + offset.x, y: n.position.y + offset.y } })), edges: s.clipboard.edges } });
      return nodes.map((n) => n.id);
    },

    undo() {
      lastEdit = null;
      const s = get();
      const prev = s.past[s.past.length - 1];
      if (!prev || s.readOnly) return;
      set({
        past: s.past.slice(0, -1),
        future: [snap(s), ...s.future],
        nodes: prev.nodes,
        edges: prev.edges,
        dirty: true,
        localIssues: validated(prev.nodes, prev.edges),
        serverIssues: [],
      });
    },

    redo() {
      const s = get();
      const next = s.future[0];
      if (!next || s.readOnly) return;
      set({
        past: [...s.past, snap(s)],
        future: s.future.slice(1),
        nodes: next.nodes,
        edges: next.edges,
        dirty: true,
        localIssues: validated(next.nodes, next.edges),
        serverIssues: [],
      });
    },

    canUndo: () => get().past.length > 0,
    canRedo: () => get().future.length > 0,

    setServerIssues(issues) {
      set({ serverIssues: issues });
    },

    setSnapToGrid(on) {
      set({ snapToGrid: on });
    },
  };
});
