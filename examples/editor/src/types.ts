// The workflow document: React Flow's shape, stored by the server and run by the library as is.
// Unknown fields are kept on load and written back on save (see store/graph.ts).

export type NodeKind = 'input' | 'output' | 'llm' | 'transform' | 'router' | 'merge' | 'loop' | 'map';

export const NODE_KINDS: NodeKind[] = ['input', 'output', 'llm', 'transform', 'router', 'merge', 'loop', 'map'];

export interface XY {
  x: number;
  y: number;
}

/** Node data is an open record: each kind has its known fields (see nodeKinds.ts). */
export type NodeData = Record<string, unknown>;

export interface WorkflowNode {
  id: string;
  type: NodeKind | string;
  position: XY;
  data: NodeData;
  parentId?: string;
  [extra: string]: unknown;
}

export interface WorkflowEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
  [extra: string]: unknown;
}

/** The document's own fields besides nodes and edges (unknown ones kept). */
export interface WorkflowMeta {
  id?: string;
  name: string;
  description?: string;
  [extra: string]: unknown;
}

export interface WorkflowDocument extends WorkflowMeta {
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  [extra: string]: unknown;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** One server-sent run event (`data:` JSON). Fields beyond `type` depend on the type. */
export interface RunEvent {
  type:
    | 'run_started'
    | 'node_started'
    | 'token'
    | 'node_finished'
    | 'node_failed'
    | 'node_skipped'
    | 'node_retry'
    | 'run_finished'
    | string;
  nodeId?: string;
  text?: string;
  [extra: string]: unknown;
}

export type NodeStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface NodeRunState {
  status: NodeStatus;
  text: string;
  output?: unknown;
  usage?: Usage;
  cost?: number;
  latencyMs?: number;
  error?: string;
  attempts: number;
  /** Activations still running (map items run concurrently). */
  active?: number;
  /** Loop iteration of the latest activation. */
  iteration?: number;
  /** Map body nodes: streamed text per item, and the item streamed last. */
  items?: Record<number, string>;
  lastItem?: number;
}

export type RunStatus = 'idle' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'budget_exceeded';

export interface RunState {
  status: RunStatus;
  executionId?: string;
  nodes: Record<string, NodeRunState>;
  output?: unknown;
  usage: Usage;
  cost: number;
  durationMs?: number;
  error?: string;
  startedAt?: number;
}

export interface ValidationIssue {
  nodeId?: string;
  edgeId?: string;
  message: string;
  source: 'local' | 'server';
}
