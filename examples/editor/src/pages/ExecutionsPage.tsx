import { useMemo, useState } from 'react';
import { executions, workflows, type ExecutionSummary } from '../api';
import { ReadOnlyCanvas } from '../components/ReadOnlyCanvas';
import { RunSummary } from '../components/RunPanel';
import { elapsed, runFromExecution } from '../store/run';
import type { WorkflowDocument } from '../types';
import { Empty, ErrorBox, Page, Spinner, cx, fmtCost, fmtDate, fmtMs, useAsync } from '../ui';

function hashParam(name: string): string {
  const q = window.location.hash.split('?')[1] ?? '';
  return new URLSearchParams(q).get(name) ?? '';
}

const STATUS = ['', 'running', 'succeeded', 'failed', 'cancelled', 'budget_exceeded'];

function tokensOf(e: ExecutionSummary): number | undefined {
  if (typeof e.totalTokens === 'number') return e.totalTokens;
  const u = e.usage as { totalTokens?: number } | undefined;
  return u?.totalTokens;
}

export function ExecutionsPage() {
  const [workflowId, setWorkflowId] = useState(hashParam('workflow_id'));
  const [status, setStatus] = useState('');
  const wfs = useAsync(() => workflows.list(), []);
  const list = useAsync(() => executions.list({ workflow_id: workflowId, status }), [workflowId, status]);
  const names = useMemo(() => new Map((wfs.data ?? []).map((w) => [w.id, w.name])), [wfs.data]);
  const rows = (list.data ?? []).filter((e) => !status || String(e.status) === status);
  return (
    <Page title="Execution history">
      <div className="mb-3 flex flex-wrap gap-3 text-sm">
        <label className="flex items-center gap-1">
          Workflow
          <select className="rounded border border-slate-300" value={workflowId} onChange={(e) => setWorkflowId(e.target.value)}>
            <option value="">All</option>
            {(wfs.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-1">
          Status
          <select className="rounded border border-slate-300" value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUS.map((s) => (
              <option key={s} value={s}>
                {s || 'Any'}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && <Spinner />}
      {!list.loading && !list.error && rows.length === 0 && <Empty>No executions match.</Empty>}
      {rows.length > 0 && (
        <table className="w-full rounded bg-white text-sm shadow-sm" aria-label="Executions">
          <thead>
            <tr className="bg-slate-100 text-left text-xs uppercase text-slate-500">
              <th className="p-2">Started</th>
              <th className="p-2">Workflow</th>
              <th className="p-2">Status</th>
              <th className="p-2">Tokens</th>
              <th className="p-2">Cost</th>
              <th className="p-2">Time</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id} className="border-t border-slate-100">
                <td className="p-2">
                  <a className="text-indigo-700 hover:underline" href={`#/executions/${encodeURIComponent(e.id)}`}>
                    {fmtDate(e.startedAt ?? e.createdAt)}
                  </a>
                </td>
                <td className="p-2">{e.workflowName ?? names.get(String(e.workflowId)) ?? e.workflowId}</td>
                <td className={cx('p-2', e.status === 'failed' && 'text-red-700', e.status === 'succeeded' && 'text-emerald-700')}>{e.status}</td>
                <td className="p-2">{tokensOf(e) ?? '—'}</td>
                <td className="p-2">{fmtCost(e.cost as number | undefined)}</td>
                <td className="p-2">{fmtMs((e.durationMs ?? e.wallTimeMs ?? elapsed(e.startedAt, e.finishedAt)) as number | undefined)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

export function ExecutionDetailPage({ id }: { id: string }) {
  const rec = useAsync(() => executions.get(id), [id]);
  const wfId = rec.data ? String(rec.data.workflowId ?? rec.data.workflow_id ?? '') : '';
  const embedded = rec.data?.workflow ?? rec.data?.definition;
  const ranVersion = rec.data?.workflowVersion;
  // The replay shows the graph as it was when it ran: the stored version the run used, when the
  // workflow has changed since.
  const wf = useAsync(async (): Promise<WorkflowDocument | null> => {
    if (embedded && typeof embedded === 'object') return embedded as WorkflowDocument;
    if (!wfId) return null;
    const current = await workflows.getRecord(wfId);
    if (ranVersion == null || current.version === ranVersion) return current.doc;
    const old = (await workflows.versions(wfId)).find((v) => v.version === ranVersion);
    const cfg = old?.configuration as WorkflowDocument | undefined;
    return cfg && Array.isArray(cfg.nodes) ? cfg : current.doc;
  }, [wfId, embedded, ranVersion]);
  const run = useMemo(() => (rec.data ? runFromExecution(rec.data, (wf.data?.nodes ?? []).map((n) => n.id)) : null), [rec.data, wf.data]);
  return (
    <Page title={`Execution ${id}`}>
      <ErrorBox error={rec.error} onRetry={rec.reload} />
      {rec.loading && <Spinner />}
      {rec.data && run && (
        <div className="grid gap-4 lg:grid-cols-[1fr_360px]">
          <div>
            {wf.loading && <Spinner label="Loading workflow…" />}
            {wf.error ? <ErrorBox error={wf.error} /> : null}
            {wf.data && <ReadOnlyCanvas doc={wf.data} run={run} height={480} />}
            {!wf.loading && !wf.data && !wf.error && <Empty>The workflow of this run no longer exists.</Empty>}
            {rec.data.input !== undefined && (
              <section className="mt-3 text-sm">
                <h2 className="text-xs font-semibold text-slate-600">Input</h2>
                <pre className="whitespace-pre-wrap rounded bg-white p-2 text-xs">{typeof rec.data.input === 'string' ? rec.data.input : JSON.stringify(rec.data.input, null, 2)}</pre>
              </section>
            )}
          </div>
          <div className="rounded bg-white p-3 shadow-sm">
            <p className="mb-2 text-xs text-slate-500">
              {fmtDate(rec.data.startedAt ?? rec.data.createdAt)}
              {wfId && (
                <>
                  {' · '}
                  <a className="text-indigo-700 underline" href={`#/editor/${encodeURIComponent(wfId)}`}>
                    open workflow
                  </a>
                </>
              )}
            </p>
            <RunSummary run={run} />
          </div>
        </div>
      )}
    </Page>
  );
}
