import { useMemo, useState } from 'react';
import { workflows, type WorkflowSummary } from '../api';
import { Button, Empty, ErrorBox, Page, Spinner, fmtDate, navigate, useAsync } from '../ui';

type SortKey = 'updated' | 'name' | 'created';

export function WorkflowsPage() {
  const list = useAsync(() => workflows.list(), []);
  const [q, setQ] = useState('');
  const [sort, setSort] = useState<SortKey>('updated');
  const [err, setErr] = useState<unknown>(null);
  const shown = useMemo(() => {
    const items = (list.data ?? []).filter((w) => `${w.name} ${w.description ?? ''}`.toLowerCase().includes(q.toLowerCase()));
    const by: Record<SortKey, (a: WorkflowSummary, b: WorkflowSummary) => number> = {
      name: (a, b) => a.name.localeCompare(b.name),
      updated: (a, b) => String(b.updatedAt ?? '').localeCompare(String(a.updatedAt ?? '')),
      created: (a, b) => String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')),
    };
    return items.sort(by[sort]);
  }, [list.data, q, sort]);
  const remove = async (w: WorkflowSummary) => {
    if (!window.confirm(`Delete workflow “${w.name}”? Its execution history is kept.`)) return;
    try {
      await workflows.remove(w.id);
      list.reload();
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Page
      title="Workflows"
      actions={
        <Button variant="primary" onClick={() => navigate('/editor/new')}>
          New workflow
        </Button>
      }
    >
      <div className="mb-3 flex flex-wrap gap-2">
        <input aria-label="Search workflows" placeholder="Search…" className="w-64 rounded border border-slate-300 px-2 py-1 text-sm" value={q} onChange={(e) => setQ(e.target.value)} />
        <label className="flex items-center gap-1 text-sm">
          Sort by
          <select className="rounded border border-slate-300 text-sm" value={sort} onChange={(e) => setSort(e.target.value as SortKey)}>
            <option value="updated">Last updated</option>
            <option value="created">Created</option>
            <option value="name">Name</option>
          </select>
        </label>
      </div>
      <ErrorBox error={list.error ?? err} onRetry={list.reload} />
      {list.loading && <Spinner />}
      {!list.loading && !list.error && shown.length === 0 && <Empty>{q ? 'No workflow matches.' : 'No workflows yet: create one, or start from a template.'}</Empty>}
      {shown.length > 0 && (
        <table className="w-full border-collapse overflow-hidden rounded bg-white text-sm shadow-sm">
          <thead>
            <tr className="bg-slate-100 text-left text-xs uppercase text-slate-500">
              <th className="p-2">Name</th>
              <th className="p-2">Updated</th>
              <th className="p-2">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((w) => (
              <tr key={w.id} className="border-t border-slate-100">
                <td className="p-2">
                  <a className="font-medium text-indigo-700 hover:underline" href={`#/editor/${encodeURIComponent(w.id)}`}>
                    {w.name}
                  </a>
                  {w.description && <div className="text-xs text-slate-500">{w.description}</div>}
                </td>
                <td className="p-2 text-xs">{fmtDate(w.updatedAt ?? w.createdAt)}</td>
                <td className="space-x-1 p-2 text-right">
                  <Button onClick={() => navigate(`/executions?workflow_id=${encodeURIComponent(w.id)}`)}>History</Button>
                  <Button variant="danger" onClick={() => void remove(w)} aria-label={`Delete ${w.name}`}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
