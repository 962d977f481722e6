import { useMemo, useState } from 'react';
import { Bar, BarChart, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { usage } from '../api';
import { normalizeUsage, type Point } from '../usage';
import { Empty, ErrorBox, Page, Spinner, fmtCost, useAsync } from '../ui';

const money = (v: number) => (v === 0 ? '$0' : `$${Number(v.toPrecision(2))}`);

function Breakdown({ title, data }: { title: string; data: Point[] }) {
  return (
    <section className="rounded bg-white p-3 shadow-sm" aria-label={title}>
      <h2 className="mb-2 text-sm font-semibold">{title}</h2>
      {data.length === 0 ? (
        <Empty>No data.</Empty>
      ) : (
        <>
          <div style={{ height: 200 }}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={data.slice(0, 10)} layout="vertical" margin={{ left: 20 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis type="number" tickFormatter={money} tick={{ fontSize: 11 }} />
                <YAxis type="category" dataKey="name" width={120} tick={{ fontSize: 11 }} />
                <Tooltip formatter={(v) => fmtCost(Number(v))} />
                <Bar dataKey="cost" name="Cost (USD)" fill="#6366f1" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="mt-2 w-full text-xs">
            <tbody>
              {data.map((p) => (
                <tr key={p.name} className="border-t border-slate-100">
                  <td className="py-1">{p.name}</td>
                  <td className="py-1 text-right">{p.tokens.toLocaleString()} tok</td>
                  <td className="py-1 text-right">{fmtCost(p.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function UsagePage() {
  const [days, setDays] = useState('30');
  const res = useAsync(() => usage.get({ days }), [days]);
  const view = useMemo(() => (res.data !== undefined ? normalizeUsage(res.data) : null), [res.data]);
  return (
    <Page
      title="Usage"
      actions={
        <label className="flex items-center gap-1 text-sm">
          Period
          <select className="rounded border border-slate-300" value={days} onChange={(e) => setDays(e.target.value)}>
            <option value="7">7 days</option>
            <option value="30">30 days</option>
            <option value="90">90 days</option>
          </select>
        </label>
      }
    >
      <ErrorBox error={res.error} onRetry={res.reload} />
      {res.loading && <Spinner />}
      {view && (
        <div className="space-y-4">
          <div className="grid grid-cols-2 gap-3 md:grid-cols-3">
            <div className="rounded bg-white p-3 shadow-sm">
              <div className="text-xs text-slate-500">Total cost</div>
              <div className="text-2xl font-semibold" data-testid="usage-total-cost">
                {fmtCost(view.totals.cost)}
              </div>
            </div>
            <div className="rounded bg-white p-3 shadow-sm">
              <div className="text-xs text-slate-500">Tokens</div>
              <div className="text-2xl font-semibold" data-testid="usage-total-tokens">
                {view.totals.tokens.toLocaleString()}
              </div>
            </div>
            {view.totals.executions != null && (
              <div className="rounded bg-white p-3 shadow-sm">
                <div className="text-xs text-slate-500">Executions</div>
                <div className="text-2xl font-semibold">{view.totals.executions}</div>
              </div>
            )}
          </div>
          <section className="rounded bg-white p-3 shadow-sm" aria-label="Cost and tokens per day">
            <h2 className="mb-2 text-sm font-semibold">Cost and tokens per day</h2>
            {view.daily.length === 0 ? (
              <Empty>No usage in this period yet: run a workflow.</Empty>
            ) : (
              <div style={{ height: 260 }} data-testid="usage-daily-chart">
                <ResponsiveContainer width="100%" height="100%">
                  <ComposedChart data={view.daily}>
                    <CartesianGrid strokeDasharray="3 3" />
                    <XAxis dataKey="name" tick={{ fontSize: 11 }} tickFormatter={(d: string) => d.slice(5)} />
                    <YAxis yAxisId="cost" tickFormatter={money} width={80} tick={{ fontSize: 11 }} />
                    <YAxis yAxisId="tokens" orientation="right" tick={{ fontSize: 11 }} />
                    <Tooltip />
                    <Legend />
                    <Bar yAxisId="cost" dataKey="cost" name="Cost (USD)" fill="#6366f1" maxBarSize={48} isAnimationActive={false} />
                    <Line yAxisId="tokens" type="linear" dataKey="tokens" name="Tokens" stroke="#10b981" isAnimationActive={false} />
                  </ComposedChart>
                </ResponsiveContainer>
              </div>
            )}
          </section>
          <div className="grid gap-4 lg:grid-cols-3">
            <Breakdown title="By provider" data={view.byProvider} />
            <Breakdown title="By model" data={view.byModel} />
            <Breakdown title="By workflow" data={view.byWorkflow} />
          </div>
        </div>
      )}
    </Page>
  );
}
