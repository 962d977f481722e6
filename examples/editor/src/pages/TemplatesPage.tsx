import { useMemo, useState } from 'react';
import { templates, type TemplateSummary } from '../api';
import { ReadOnlyCanvas } from '../components/ReadOnlyCanvas';
import { useGraph } from '../store/graph';
import { useRun } from '../store/run';
import { Button, Empty, ErrorBox, Page, Spinner, cx, navigate, useAsync } from '../ui';

function tagsOf(t: TemplateSummary): string[] {
  return Array.isArray(t.tags) ? t.tags.map(String) : [];
}

async function copyTemplate(id: string, name: string): Promise<void> {
  const doc = await templates.use(id, name);
  useGraph.getState().load(doc);
  useRun.getState().clear();
  navigate(`/editor/${encodeURIComponent(doc.id ?? '')}`);
}

export function TemplatesPage() {
  const list = useAsync(() => templates.list(), []);
  const [q, setQ] = useState('');
  const [category, setCategory] = useState('');
  const [tag, setTag] = useState('');
  const [err, setErr] = useState<unknown>(null);
  const all = list.data ?? [];
  const categories = useMemo(() => [...new Set(all.map((t) => String(t.category ?? '')).filter(Boolean))].sort(), [all]);
  const tags = useMemo(() => [...new Set(all.flatMap(tagsOf))].sort(), [all]);
  const shown = all.filter(
    (t) =>
      (!category || t.category === category) &&
      (!tag || tagsOf(t).includes(tag)) &&
      `${t.name} ${t.description ?? ''} ${tagsOf(t).join(' ')}`.toLowerCase().includes(q.toLowerCase()),
  );
  return (
    <Page title="Templates">
      <div className="mb-3 flex flex-wrap gap-2 text-sm">
        <input aria-label="Search templates" placeholder="Search…" className="w-64 rounded border border-slate-300 px-2 py-1" value={q} onChange={(e) => setQ(e.target.value)} />
        <label className="flex items-center gap-1">
          Category
          <select className="rounded border border-slate-300" value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">All</option>
            {categories.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <div className="flex flex-wrap gap-1" role="group" aria-label="Filter by tag">
          {tags.map((t) => (
            <button type="button" key={t} aria-pressed={tag === t} onClick={() => setTag(tag === t ? '' : t)} className={cx('rounded-full border px-2 text-xs', tag === t ? 'border-indigo-600 bg-indigo-600 text-white' : 'border-slate-300 bg-white')}>
              #{t}
            </button>
          ))}
        </div>
      </div>
      <ErrorBox error={list.error ?? err} onRetry={list.reload} />
      {list.loading && <Spinner />}
      {!list.loading && !list.error && shown.length === 0 && <Empty>No template matches.</Empty>}
      <ul className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3" aria-label="Templates">
        {shown.map((t) => (
          <li key={t.id} className="flex flex-col rounded bg-white p-3 shadow-sm" data-testid={`template-${t.id}`}>
            <h2 className="font-semibold">{t.name}</h2>
            <p className="text-xs text-slate-500">
              {t.category ?? 'general'}
              {(t.public ?? t.isPublic) === false ? ' · private' : ''}
            </p>
            <p className="my-2 flex-1 text-sm text-slate-700">{t.description}</p>
            <div className="mb-2 flex flex-wrap gap-1">
              {tagsOf(t).map((x) => (
                <span key={x} className="rounded-full bg-slate-100 px-2 text-[11px]">
                  #{x}
                </span>
              ))}
            </div>
            <div className="flex gap-2">
              <Button onClick={() => navigate(`/templates/${encodeURIComponent(t.id)}`)} aria-label={`Preview ${t.name}`}>
                Preview
              </Button>
              <Button variant="primary" onClick={() => copyTemplate(t.id, t.name).catch(setErr)} aria-label={`Use template ${t.name}`}>
                Use template
              </Button>
            </div>
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function TemplateDetailPage({ id }: { id: string }) {
  const t = useAsync(() => templates.get(id), [id]);
  const [err, setErr] = useState<unknown>(null);
  const doc = t.data ? templates.templateDocument(t.data) : null;
  return (
    <Page
      title={t.data ? String(t.data.name ?? id) : 'Template'}
      actions={
        t.data && (
          <>
            <Button onClick={() => navigate('/templates')}>Back</Button>
            <Button variant="primary" onClick={() => copyTemplate(id, String(t.data?.name ?? '')).catch(setErr)}>
              Use template
            </Button>
          </>
        )
      }
    >
      <ErrorBox error={t.error ?? err} onRetry={t.reload} />
      {t.loading && <Spinner />}
      {t.data && <p className="mb-3 text-sm text-slate-600">{String(t.data.description ?? '')}</p>}
      {doc && Array.isArray(doc.nodes) && <ReadOnlyCanvas doc={doc} height={520} />}
    </Page>
  );
}
