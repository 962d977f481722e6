// The workflow document: React Flow's shape, stored by the server and run by the library as is.
// Unknown fields are kept on load and written back on save (see store/graph.ts).
//
// The document's types come from the published schema: src/generated/workflow.ts is generated
// from docs/workflow.schema.json (`npm run gen:types`; tests/generated.test.ts fails when it is
// stale). The editor's working shapes below build on them; tests/document-types.ts checks at
// compile time that they stay compatible with the schema's and with bindings/node/index.d.ts.
import type * as Schema from './generated/workflow';

export type {
  ChorusWorkflow,
  Condition,
  InputData,
  LlmData,
  LoopData,
  MapData,
  MergeData,
  ModelRef,
  OutputData,
  RouterData,
  TransformData,
} from './generated/workflow';

/** The node kinds the schema knows. */
export type NodeKind = Schema.WorkflowNode['type'];

export const NODE_KINDS = ['input', 'output', 'llm', 'transform', 'router', 'merge', 'loop', 'map'] as const satisfies readonly NodeKind[];
// Every kind of the schema is listed (fails to compile when the schema gains one).
const allKindsListed: Exclude<NodeKind, (typeof NODE_KINDS)[number]> extends never ? true : false = true;
void allKindsListed;

/** Each kind's `data`, as the schema types it. */
export interface NodeDataByKind {
  input: Schema.InputData;
  output: Schema.OutputData;
  llm: Schema.LlmData;
  transform: Schema.TransformData;
  router: Schema.RouterData;
  merge: Schema.MergeData;
  loop: Schema.LoopData;
  map: Schema.MapData;
}

/** The declared keys of T (its index signature left out). */
export type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/** The `data` fields the schema declares for a kind. */
export type DataKey<K extends NodeKind> = KnownKeys<NodeDataByKind[K]> & string;

export type XY = Pick<NonNullable<Schema.WorkflowNode['position']>, 'x' | 'y'>;

/** Node data while editing is an open record: each kind's known fields are NodeDataByKind's. */
export type NodeData = Record<string, unknown>;

/** A node as the editor holds it: position and data always present; an unknown `type` loaded
 * from a document is kept (validation reports it) rather than dropped. */
export interface WorkflowNode {
  id: Schema.WorkflowNode['id'];
  type: NodeKind | string;
  position: XY;
  data: NodeData;
  parentId?: string;
  [extra: string]: unknown;
}

/** A node whose kind and data are the schema's (what defaultData() and the templates produce). */
export type TypedWorkflowNode<K extends NodeKind = NodeKind> = K extends NodeKind
  ? { id: string; type: K; position: XY; data: NodeDataByKind[K]; parentId?: string; [extra: string]: unknown }
  : never;

export type WorkflowEdge = Schema.WorkflowEdge;

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
