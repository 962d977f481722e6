// A canvas that only shows a document (template preview, replay of a past execution).
import { Background, Controls, ReactFlow, ReactFlowProvider } from '@xyflow/react';
import { useMemo } from 'react';
import type { RunState, WorkflowDocument } from '../types';
import { nodeTypes } from './FlowNode';

export function ReadOnlyCanvas({ doc, run, height = 420 }: { doc: WorkflowDocument; run?: RunState; height?: number }) {
  const nodes = useMemo(
    () =>
      (doc.nodes ?? []).map((n) => ({
        ...n,
        data: { ...(n.data ?? {}), __preview: true, __run: run?.nodes[n.id] },
        draggable: false,
        connectable: false,
      })),
    [doc, run],
  );
  const edges = useMemo(
    () =>
      (doc.edges ?? []).map((e) => ({
        ...e,
        sourceHandle: e.sourceHandle ?? undefined,
        targetHandle: e.targetHandle ?? undefined,
        animated: run?.nodes[e.source]?.status === 'running',
        label: e.sourceHandle ?? undefined,
      })),
    [doc, run],
  );
  return (
    <div style={{ height }} className="rounded border border-slate-200 bg-white" aria-label="Workflow preview" role="img">
      <ReactFlowProvider>
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} fitView nodesDraggable={false} nodesConnectable={false} elementsSelectable={false} deleteKeyCode={null} proOptions={{ hideAttribution: true }}>
          <Background gap={20} />
          <Controls showInteractive={false} />
        </ReactFlow>
      </ReactFlowProvider>
    </div>
  );
}
