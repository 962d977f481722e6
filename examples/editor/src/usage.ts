// Shapes GET /api/user/usage for the charts. Accepts pre-aggregated series
// ({daily|byDay, byProvider, byModel, byWorkflow, totals}) or flat rows
// ({date, provider, model, workflowId, cost, tokens}) and aggregates the latter.

export interface Point {
  name: string;
  cost: number;
  tokens: number;
  executions?: number;
}

export interface UsageView {
  daily: Point[];
  byProvider: Point[];
  byModel: Point[];
  byWorkflow: Point[];
  totals: { cost: number; tokens: number; executions?: number };
  limits?: Record<string, unknown>;
}

type Row = Record<string, unknown>;

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : 0);

function tokensOf(r: Row): number {
  if (r.tokens != null) return n(r.tokens);
  if (r.totalTokens != null) return n(r.totalTokens);
  if (r.total_tokens != null) return n(r.total_tokens);
  const u = r.usage as Row | undefined;
  if (u) return n(u.totalTokens ?? u.total_tokens ?? n(u.promptTokens) + n(u.completionTokens));
  return n(r.promptTokens) + n(r.completionTokens);
}

function costOf(r: Row): number {
  return n(r.cost ?? r.costUsd ?? r.cost_usd ?? r.totalCost);
}

function point(r: Row, nameKeys: string[]): Point {
  let name = '';
  for (const k of nameKeys)
    if (r[k] != null && r[k] !== '') {
      name = String(r[k]);
      break;
    }
  const p: Point = { name: name || '(unknown)', cost: costOf(r), tokens: tokensOf(r) };
  if (r.executions != null || r.runs != null) p.executions = n(r.executions ?? r.runs);
  return p;
}

function group(rows: Row[], key: (r: Row) => string): Point[] {
  const m = new Map<string, Point>();
  for (const r of rows) {
    const k = key(r) || '(unknown)';
    const p = m.get(k) ?? { name: k, cost: 0, tokens: 0 };
    p.cost += costOf(r);
    p.tokens += tokensOf(r);
    m.set(k, p);
  }
  return [...m.values()];
}

const dayOf = (r: Row) => String(r.date ?? r.day ?? r.createdAt ?? r.startedAt ?? '').slice(0, 10);

function fillDays(daily: Point[], from: string, to: string): Point[] {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start || end - start > 400 * 86_400_000) return daily;
  const byDay = new Map(daily.map((p) => [p.name, p]));
  const out: Point[] = [];
  for (let t = start; t <= end; t += 86_400_000) {
    const d = new Date(t).toISOString().slice(0, 10);
    out.push(byDay.get(d) ?? { name: d, cost: 0, tokens: 0 });
    byDay.delete(d);
  }
  return [...out, ...byDay.values()].sort((a, c) => a.name.localeCompare(c.name));
}

export function normalizeUsage(body: unknown): UsageView {
  const b = (body ?? {}) as Row;
  const arr = (v: unknown) => (Array.isArray(v) ? (v as Row[]) : undefined);
  const rows = Array.isArray(body) ? (body as Row[]) : arr(b.rows) ?? arr(b.records) ?? arr(b.items);
  let view: UsageView;
  if (rows) {
    view = {
      daily: group(rows, dayOf),
      byProvider: group(rows, (r) => String(r.provider ?? '')),
      byModel: group(rows, (r) => (r.model ? `${String(r.provider ?? '')}/${String(r.model)}` : '')),
      byWorkflow: group(rows, (r) => String(r.workflowName ?? r.workflow ?? r.workflowId ?? '')),
      totals: { cost: 0, tokens: 0 },
    };
  } else {
    view = {
      daily: (arr(b.daily) ?? arr(b.byDay) ?? arr(b.days) ?? []).map((r) => point(r, ['date', 'day', 'name'])),
      byProvider: (arr(b.byProvider) ?? arr(b.providers) ?? []).map((r) => point(r, ['provider', 'name'])),
      byModel: (arr(b.byModel) ?? arr(b.models) ?? []).map((r) => {
        const p = point(r, ['model', 'name']);
        if (r.provider && r.model) p.name = `${String(r.provider)}/${String(r.model)}`;
        return p;
      }),
      byWorkflow: (arr(b.byWorkflow) ?? arr(b.workflows) ?? []).map((r) => point(r, ['workflowName', 'name', 'workflowId', 'workflow'])),
      totals: { cost: 0, tokens: 0 },
    };
  }
  if (!rows && view.byProvider.length === 0 && view.byModel.length > 0) {
    const models = arr(b.byModel) ?? arr(b.models) ?? [];
    view.byProvider = group(models, (r) => String(r.provider ?? ''));
  }
  view.daily.sort((a, c) => a.name.localeCompare(c.name));
  // Every day of the period gets a point (zero when nothing ran), so the chart shows the period.
  if (typeof b.from === 'string' && typeof b.to === 'string') view.daily = fillDays(view.daily, b.from, b.to);
  for (const k of ['byProvider', 'byModel', 'byWorkflow'] as const) view[k].sort((a, c) => c.cost - a.cost || c.tokens - a.tokens);
  const t = (b.totals ?? b.total ?? b.summary) as Row | undefined;
  const fromDaily = view.daily.reduce((s, p) => ({ cost: s.cost + p.cost, tokens: s.tokens + p.tokens }), { cost: 0, tokens: 0 });
  view.totals = t ? { cost: costOf(t), tokens: tokensOf(t), executions: t.executions != null ? n(t.executions) : undefined } : fromDaily;
  if (b.limits && typeof b.limits === 'object') view.limits = b.limits as Record<string, unknown>;
  return view;
}
