// One presentational component for every node kind: title, key settings, validation messages,
// and the live run state (status, streaming text, tokens, cost).
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { memo } from 'react';
import { KIND_INFO, hasDefaultSource, hasTargetHandle, sourceHandles } from '../nodeKinds';
import { useGraph, type FlowNode as FlowNodeT } from '../store/graph';
import { useRun } from '../store/run';
import type { NodeKind, NodeRunState, NodeStatus } from '../types';
import { cx, fmtCost } from '../ui';

const STATUS_STYLE: Record<NodeStatus, string> = {
  pending: 'bg-slate-100 text-slate-600',
  running: 'bg-amber-100 text-amber-800 animate-pulse',
  done: 'bg-emerald-100 text-emerald-800',
  failed: 'bg-red-100 text-red-800',
  skipped: 'bg-slate-200 text-slate-500',
};

function summary(kind: string, d: Record<string, unknown>): string {
  switch (kind) {
    case 'llm':
      return `${String(d.provider ?? '?')} · ${String(d.model ?? '?')}`;
    case 'transform':
      return String(d.op ?? 'template');
    case 'router':
      return `${String(d.mode ?? 'condition')}: ${sourceHandles('router', d).join(', ') || 'no routes'}`;
    case 'loop':
      return `max ${String(d.maxIterations ?? '?')} iterations`;
    case 'map':
      return `${String(d.itemsFormat ?? 'lines')} · ×${String(d.concurrency ?? 4)}`;
    case 'merge':
      return `wait for ${String(d.mode ?? 'all')}`;
    default:
      return '';
  }
}

function FlowNodeView({ id, type, data, selected }: NodeProps<FlowNodeT>) {
  const info = KIND_INFO[type as NodeKind];
  // A string selector: stable across renders, so the store does not re-render every node.
  const preview = data.__preview === true;
  const issueText = useGraph((s) =>
    preview
      ? ''
      : s.localIssues
      .concat(s.serverIssues)
      .filter((i) => i.nodeId === id)
      .map((i) => i.message)
      .join('\n'),
  );
  const issues = issueText ? issueText.split('\n') : [];
  const liveRun = useRun((s) => s.run.nodes[id]);
  const run = preview ? (data.__run as NodeRunState | undefined) : liveRun;
  const handles = sourceHandles(type, data);
  const label = typeof data.label === 'string' && data.label ? data.label : id;
  const isMap = type === 'map';
  return (
    <div
      className={cx(
        'rounded-md border-2 bg-white shadow-sm text-left',
        isMap ? 'min-h-[160px] min-w-[320px] bg-lime-50/60' : 'w-[220px]',
        info?.color ?? 'border-slate-400',
        selected && 'ring-2 ring-indigo-400',
      )}
      data-testid={`node-${id}`}
      data-status={run?.status ?? 'idle'}
      title={issueText || undefined}
      aria-label={`${info?.title ?? type} node ${label}`}
    >
      {hasTargetHandle(type) && <Handle type="target" position={Position.Left} aria-label={`${id} input`} />}
      <div className="flex items-center justify-between gap-2 border-b border-slate-100 px-2 py-1">
        <span className="truncate text-sm font-semibold">{label}</span>
        <span className="text-[10px] uppercase tracking-wide text-slate-500">{info?.title ?? type}</span>
      </div>
      <div className="space-y-1 px-2 py-1 text-xs text-slate-600">
        {summary(type, data) && <div className="truncate">{summary(type, data)}</div>}
        {run && (
          <div className="flex flex-wrap items-center gap-1">
            <span className={cx('rounded px-1.5 py-0.5 text-[10px] font-semibold', STATUS_STYLE[run.status])} data-testid={`status-${id}`}>
              {run.status}
            </span>
            {run.iteration != null && run.iteration > 1 && <span className="text-[10px] text-orange-700">iteration {run.iteration}</span>}
            {run.lastItem != null && <span className="text-[10px] text-lime-700">item {run.lastItem + 1}</span>}
            {run.attempts > 1 && run.iteration == null && run.lastItem == null && <span className="text-[10px] text-amber-700">attempt {run.attempts}</span>}
            {run.usage && (run.usage.totalTokens > 0 || type === 'llm') && <span className="text-[10px]">{run.usage.totalTokens} tok</span>}
            {run.cost != null && (run.cost > 0 || type === 'llm') && <span className="text-[10px]">{fmtCost(run.cost)}</span>}
          </div>
        )}
        {run && run.text && (
          <div className="max-h-20 overflow-hidden whitespace-pre-wrap break-words rounded bg-slate-50 p-1 font-mono text-[10px] leading-tight text-slate-700" data-testid={`stream-${id}`}>
            {run.text.length > 300 ? `…${run.text.slice(-300)}` : run.text}
          </div>
        )}
        {run?.error && <div className="text-[10px] text-red-700">{run.error}</div>}
        {issues.length > 0 && (
          <ul className="text-[10px] text-red-700" aria-label={`problems of ${id}`}>
            {issues.slice(0, 3).map((i, k) => (
              <li key={k}>⚠ {i}</li>
            ))}
          </ul>
        )}
      </div>
      {hasDefaultSource(type) && <Handle type="source" position={Position.Right} aria-label={`${id} output`} />}
      {handles.map((h, i) => (
        <Handle
          key={h}
          id={h}
          type="source"
          position={Position.Right}
          style={{ top: `${((i + 1) * 100) / (handles.length + 1)}%`, background: h === 'error' ? '#dc2626' : '#a21caf' }}
          aria-label={`${id} ${h} output`}
          title={h}
        >
          <span className="pointer-events-none absolute left-3 -top-2 whitespace-nowrap text-[9px] text-fuchsia-800">{h}</span>
        </Handle>
      ))}
    </div>
  );
}

export const FlowNode = memo(FlowNodeView);

export const nodeTypes = {
  input: FlowNode,
  output: FlowNode,
  llm: FlowNode,
  transform: FlowNode,
  router: FlowNode,
  merge: FlowNode,
  loop: FlowNode,
  map: FlowNode,
};
