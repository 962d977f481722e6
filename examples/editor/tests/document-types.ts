// Compile-time checks (run by `npm run build` / `npm run typecheck`, which type-check tests/):
// the editor's document types, the types generated from docs/workflow.schema.json and the Node
// binding's hand-written bindings/node/index.d.ts agree. A mismatch is a tsc error here.
import type * as Binding from '../../../bindings/node/index';
import type * as Schema from '../src/generated/workflow';
import type { KnownKeys, NodeDataByKind, NodeKind, TypedWorkflowNode, WorkflowDocument, WorkflowEdge, WorkflowNode } from '../src/types';

/** A and B are assignable to each other. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Same declared keys, each key's type assignable both ways (optional fields: `T | undefined`). */
type FieldsAgree<A, B> =
  Mutual<KnownKeys<A>, KnownKeys<B>> extends true
    ? { [K in KnownKeys<A> & KnownKeys<B>]: Mutual<A[K], B[K]> }[KnownKeys<A> & KnownKeys<B>] extends true
      ? true
      : { mismatch: { [K in KnownKeys<A> & KnownKeys<B> as Mutual<A[K], B[K]> extends true ? never : K]: [A[K], B[K]] } }
    : { keysOnlyInFirst: Exclude<KnownKeys<A>, KnownKeys<B>>; keysOnlyInSecond: Exclude<KnownKeys<B>, KnownKeys<A>> };

// Node kinds: the schema's enum, the binding's NodeType and the editor's NodeKind are one set.
export const kindsAgree: [Mutual<NodeKind, Binding.NodeType>, Mutual<NodeKind, Schema.WorkflowNode['type']>] = [true, true];

// Each kind's data: the schema's (editor) and the binding's, field by field and as wholes.
export const dataFieldsAgree: { [K in NodeKind]: FieldsAgree<NodeDataByKind[K], Binding.NodeDataByType[K]> } = {
  input: true,
  output: true,
  llm: true,
  transform: true,
  router: true,
  merge: true,
  loop: true,
  map: true,
};
export const dataAgree: { [K in NodeKind]: Mutual<NodeDataByKind[K], Binding.NodeDataByType[K]> } = {
  input: true,
  output: true,
  llm: true,
  transform: true,
  router: true,
  merge: true,
  loop: true,
  map: true,
};
export const conditionAgrees: [FieldsAgree<Schema.Condition, Binding.Condition>, FieldsAgree<Schema.ModelRef, Binding.ModelRef>] = [true, true];

// Edges: the editor's edge is the schema's; it and the binding's are assignable both ways.
export const edgesAgree: [Mutual<WorkflowEdge, Schema.WorkflowEdge>, Mutual<WorkflowEdge, Binding.WorkflowEdge>] = [true, true];

// Nodes and documents: what the editor holds is what the binding reads (and back), and a typed
// node (kind + that kind's data) of the editor, the schema and the binding are interchangeable.
export const nodesAgree: [
  Mutual<WorkflowNode, Binding.WorkflowNode>,
  Mutual<TypedWorkflowNode, Binding.TypedWorkflowNode>,
  TypedWorkflowNode extends Schema.WorkflowNode ? true : false,
] = [true, true, true];
export const documentsAgree: [
  WorkflowDocument extends Binding.WorkflowDocument ? true : false,
  Binding.WorkflowDocument extends Omit<WorkflowDocument, 'name'> ? true : false,
] = [true, true];
