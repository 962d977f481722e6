// Execution controls and results: input, Run / Cancel / Rerun, live totals, final output and
// every node's output.
import { useId } from 'react';
import { useRun } from '../store/run';
import type { RunState } from '../types';
import { Button, cx, fmtCost, fmtMs } from '../ui';

export function RunSummary({ run }: { run: RunState }) {
  const entries = Object.entries(run.nodes);
  return (
    <div className="space-y-2 text-sm">
      <dl className="grid grid-cols-2 gap-x-2 gap-y-1 text-xs" aria-label="Run totals">
        <dt className="text-slate-500">Status</dt>
        <dd data-testid="run-status" className={cx('font-semibold', run.status === 'failed' && 'text-red-700', run.status === 'succeeded' && 'text-emerald-700')}>
          {run.status}
        </dd>
        <dt className="text-slate-500">Total cost</dt>
        <dd data-testid="run-cost">{fmtCost(run.cost)}</dd>
        <dt className="text-slate-500">Tokens</dt>
        <dd data-testid="run-tokens">
          {run.usage.totalTokens} ({run.usage.promptTokens} in / {run.usage.completionTokens} out)
        </dd>
        <dt className="text-slate-500">Time</dt>
        <dd data-testid="run-time">{fmtMs(run.durationMs)}</dd>
        {run.executionId && (
          <>
            <dt className="text-slate-500">Execution</dt>
            <dd className="min-w-0 truncate">
              <a className="text-indigo-700 underline" title={run.executionId} href={`#/executions/${encodeURIComponent(run.executionId)}`}>
                {run.executionId}
              </a>
            </dd>
          </>
        )}
      </dl>
      {run.error && (
        <p role="alert" className="rounded bg-red-50 p-2 text-xs text-red-800">
          {run.error}
        </p>
      )}
      {run.output !== undefined && (
        <section aria-label="Final output">
          <h3 className="text-xs font-semibold text-slate-600">Final output</h3>
          <pre data-testid="run-output" className="max-h-48 overflow-auto whitespace-pre-wrap rounded bg-slate-900 p-2 text-xs text-slate-100">
            {typeof run.output === 'string' ? run.output : JSON.stringify(run.output, null, 2)}
          </pre>
        </section>
      )}
      {entries.length > 0 && (
        <section aria-label="Node outputs">
          <h3 className="text-xs font-semibold text-slate-600">Nodes</h3>
          <ul className="space-y-1">
            {entries.map(([id, n]) => (
              <li key={id} className="rounded border border-slate-200 p-1 text-xs">
                <details>
                  <summary className="cursor-pointer">
                    <span className="font-mono">{id}</span> · {n.status}
                    {n.usage ? ` · ${n.usage.totalTokens} tok` : ''}
                    {n.cost != null ? ` · ${fmtCost(n.cost)}` : ''}
                    {n.latencyMs != null ? ` · ${fmtMs(n.latencyMs)}` : ''}
                  </summary>
                  <pre className="mt-1 max-h-40 overflow-auto whitespace-pre-wrap text-[11px]">{n.error ?? (typeof n.output === 'string' ? n.output : n.output !== undefined ? JSON.stringify(n.output, null, 2) : n.text)}</pre>
                </details>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

export function RunPanel({ input, setInput, onRun, onCancel, canRun }: { input: string; setInput: (s: string) => void; onRun: () => void; onCancel: () => void; canRun: boolean }) {
  const run = useRun((s) => s.run);
  const id = useId();
  const running = run.status === 'running';
  return (
    <section aria-label="Run" className="space-y-2 p-3">
      <label htmlFor={id} className="block text-xs font-medium text-slate-600">
        Run input
      </label>
      <textarea
        id={id}
        rows={3}
        value={input}
        onChange={(e) => setInput(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && canRun && !running) onRun();
        }}
        className="w-full rounded border border-slate-300 p-1.5 text-sm"
        placeholder="Text passed to the input node (Ctrl+Enter to run)"
      />
      <div className="flex gap-2">
        <Button variant="primary" onClick={onRun} disabled={!canRun || running}>
          {run.status === 'idle' ? 'Run' : 'Rerun'}
        </Button>
        <Button variant="danger" onClick={onCancel} disabled={!running}>
          Cancel
        </Button>
      </div>
      {run.status !== 'idle' && <RunSummary run={run} />}
    </section>
  );
}
