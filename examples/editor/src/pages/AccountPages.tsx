import { useMemo, useState } from 'react';
import { ApiError, auth, billing, health, usage, workflows, type User } from '../api';
import { normalizeUsage } from '../usage';
import { Button, ErrorBox, Page, Spinner, fmtCost, useAsync } from '../ui';

export function ProfilePage({ user, onChange }: { user: User; onChange: (u: User) => void }) {
  const [name, setName] = useState(String(user.name ?? ''));
  const [state, setState] = useState<{ busy?: boolean; error?: unknown; ok?: boolean }>({});
  const save = async () => {
    setState({ busy: true });
    try {
      onChange(await auth.updateProfile({ name }));
      setState({ ok: true });
    } catch (e) {
      setState({ error: e instanceof ApiError && (e.status === 404 || e.status === 405) ? new Error('This server does not support editing the profile.') : e });
    }
  };
  return (
    <Page title="Profile">
      <dl className="mb-4 grid max-w-md grid-cols-[120px_1fr] gap-2 rounded bg-white p-3 text-sm shadow-sm">
        <dt className="text-slate-500">Email</dt>
        <dd data-testid="profile-email">{user.email}</dd>
        <dt className="text-slate-500">Plan</dt>
        <dd className="capitalize">{String(user.tier ?? user.plan ?? 'free')}</dd>
        <dt className="text-slate-500">User id</dt>
        <dd className="font-mono text-xs">{user.id}</dd>
      </dl>
      <form
        className="flex max-w-md items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label className="flex-1 text-sm">
          Display name
          <input className="mt-1 w-full rounded border border-slate-300 px-2 py-1" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <Button type="submit" variant="primary" disabled={state.busy}>
          Save
        </Button>
      </form>
      {state.ok && (
        <p role="status" className="mt-2 text-sm text-emerald-700">
          Saved.
        </p>
      )}
      <ErrorBox error={state.error} />
    </Page>
  );
}

const LIMIT_LABELS: Record<string, string> = {
  executionsPerDay: 'Executions today',
  concurrentRuns: 'Runs at a time',
  maxWorkflows: 'Workflows',
  maxNodes: 'Nodes per workflow (largest)',
  monthlyPlatformCostUsd: 'Cost this month on server keys (USD)',
};

const TIERS = ['free', 'pro', 'team'];

export function BillingPage({ user }: { user: User }) {
  // Billing endpoints are optional: without them the page shows the tier and limits from the
  // profile, and usage measured from the other endpoints.
  const billingRes = useAsync(async () => {
    try {
      const h = await health();
      if (!h.features?.billing) return null;
      return await billing.plan();
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }, []);
  const profile = useAsync(() => auth.profile(), []);
  const wfs = useAsync(() => workflows.list(), []);
  const u = useAsync(() => usage.get(), []);
  const month = useMemo(() => (u.data !== undefined ? normalizeUsage(u.data) : null), [u.data]);
  const [state, setState] = useState<{ busy?: boolean; error?: unknown; note?: string }>({});
  const me = (profile.data ?? user) as User & { tier?: string; limits?: Record<string, unknown>; today?: Record<string, unknown> };
  const tier = String(billingRes.data?.tier ?? me.tier ?? me.plan ?? 'free');
  const limits = (billingRes.data?.limits ?? me.limits ?? {}) as Record<string, unknown>;
  const today = (me.today ?? {}) as Record<string, unknown>;
  const used: Record<string, number | undefined> = {
    executionsPerDay: typeof today.executions === 'number' ? today.executions : undefined,
    concurrentRuns: typeof today.runningExecutions === 'number' ? today.runningExecutions : undefined,
    maxWorkflows: wfs.data?.length,
    monthlyPlatformCostUsd: month?.totals.cost,
  };
  const upgrade = async (t: string) => {
    setState({ busy: true });
    try {
      const r = await billing.upgrade(t);
      const url = r.url ?? r.checkoutUrl;
      if (typeof url === 'string') window.location.href = url;
      else setState({ note: `Plan changed to ${t}.` });
      billingRes.reload();
      profile.reload();
    } catch (e) {
      setState({ error: e });
    }
  };
  const billingOn = billingRes.data != null;
  return (
    <Page title="Plan and billing">
      <ErrorBox error={billingRes.error ?? profile.error} onRetry={() => (billingRes.reload(), profile.reload())} />
      {(billingRes.loading || profile.loading) && <Spinner />}
      {!billingRes.loading && !profile.loading && (
        <div className="space-y-4">
          <div className="rounded bg-white p-4 shadow-sm">
            <div className="text-xs text-slate-500">Current plan</div>
            <div className="text-2xl font-semibold capitalize" data-testid="plan-tier">
              {tier}
            </div>
            {month && (
              <p className="mt-1 text-sm text-slate-600">
                Last 30 days: {fmtCost(month.totals.cost)}, {month.totals.tokens.toLocaleString()} tokens
              </p>
            )}
          </div>
          <section className="rounded bg-white p-4 shadow-sm" aria-label="Limits">
            <h2 className="mb-2 text-sm font-semibold">Usage against limits</h2>
            {Object.keys(limits).length === 0 && <p className="text-sm text-slate-500">No limits on this plan.</p>}
            {Object.entries(limits).map(([k, limit]) => {
              const label = LIMIT_LABELS[k] ?? k;
              if (typeof limit !== 'number' || limit <= 0)
                return (
                  <div key={k} className="mb-2 flex justify-between text-sm">
                    <span>{label}</span>
                    <span className="text-slate-500">unlimited</span>
                  </div>
                );
              const n = used[k];
              const pct = n != null ? Math.min(100, (n / limit) * 100) : 0;
              return (
                <div key={k} className="mb-2 text-sm">
                  <div className="flex justify-between">
                    <span>{label}</span>
                    <span>
                      {n != null ? `${k === 'monthlyPlatformCostUsd' ? fmtCost(n) : n.toLocaleString()} / ` : 'limit '}
                      {k === 'monthlyPlatformCostUsd' ? fmtCost(limit) : limit.toLocaleString()}
                    </span>
                  </div>
                  {n != null && (
                    <div className="h-2 rounded bg-slate-200" role="progressbar" aria-label={label} aria-valuenow={Math.round(pct)} aria-valuemin={0} aria-valuemax={100}>
                      <div className={`h-2 rounded ${pct > 90 ? 'bg-red-500' : 'bg-indigo-500'}`} style={{ width: `${pct}%` }} />
                    </div>
                  )}
                </div>
              );
            })}
          </section>
          <section className="rounded bg-white p-4 shadow-sm">
            <h2 className="mb-2 text-sm font-semibold">Change plan</h2>
            {!billingOn && <p className="mb-2 text-sm text-slate-500">Billing is not enabled on this server: ask the administrator to change your plan.</p>}
            <div className="flex gap-2">
              {TIERS.filter((t) => t !== tier).map((t) => (
                <Button key={t} variant="primary" disabled={!billingOn || state.busy} onClick={() => void upgrade(t)}>
                  {TIERS.indexOf(t) > TIERS.indexOf(tier) ? 'Upgrade' : 'Switch'} to {t}
                </Button>
              ))}
            </div>
            {state.note && (
              <p role="status" className="mt-2 text-sm text-emerald-700">
                {state.note}
              </p>
            )}
            <ErrorBox error={state.error} />
          </section>
        </div>
      )}
    </Page>
  );
}
