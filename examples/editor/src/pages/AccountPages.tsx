import { useMemo, useState } from 'react';
import { ApiError, auth, billing, usage, workflows, type BillingInvoice, type BillingStatus, type User } from '../api';
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
  maxNodes: 'Nodes per workflow',
  monthlyPlatformCostUsd: 'Cost this month on server keys (USD)',
};

const PAID_STATUSES = ['active', 'trialing', 'past_due'];

export interface LimitRow {
  key: string;
  label: string;
  limit: number | null;
  used: number | null;
  unlimited: boolean;
  /** 0..100 when both the use and a limit are known. */
  pct: number | null;
  money: boolean;
}

export interface BillingView {
  tier: string;
  enabled: boolean;
  status: string;
  rows: LimitRow[];
  /** Plans the user can buy now (Stripe Checkout); empty while subscribed: the portal changes plans. */
  upgrades: { tier: string; higher: boolean }[];
  canManage: boolean;
  canCancel: boolean;
  canResume: boolean;
  notice: string | null;
  invoices: BillingInvoice[];
}

type Me = { tier?: unknown; plan?: unknown; limits?: Record<string, unknown>; today?: Record<string, unknown> };

/** What the plan page shows, from GET /api/billing when the server has it, else from the profile
 * and the usage endpoints (`fallbackUsed`). Pure: tested in tests/billing.test.ts. */
export function billingView(status: BillingStatus | null, me: Me, fallbackUsed: Record<string, number | undefined>): BillingView {
  const tier = String(status?.tier ?? me.tier ?? me.plan ?? 'free');
  const limits = (status?.limits ?? me.limits ?? {}) as Record<string, unknown>;
  const used = (status?.usage ?? fallbackUsed) as Record<string, unknown>;
  const rows: LimitRow[] = Object.entries(limits).map(([key, raw]) => {
    const money = key === 'monthlyPlatformCostUsd';
    const limit = typeof raw === 'number' ? raw : null;
    // Counts: 0 means unlimited. Cost: null means unlimited, 0 means none included.
    const unlimited = limit === null || (!money && limit <= 0);
    const u = used[key];
    const n = typeof u === 'number' && Number.isFinite(u) ? u : null;
    const pct = !unlimited && n !== null && limit !== null ? (limit > 0 ? Math.min(100, (n / limit) * 100) : 100) : null;
    return { key, label: LIMIT_LABELS[key] ?? key, limit, used: n, unlimited, pct, money };
  });
  const enabled = status?.enabled === true;
  const subscribed = enabled && PAID_STATUSES.includes(status.status);
  const order = (status?.plans ?? []).map((p) => p.tier);
  const upgrades =
    enabled && !subscribed
      ? status.plans.filter((p) => p.purchasable && !p.current).map((p) => ({ tier: p.tier, higher: order.indexOf(p.tier) > order.indexOf(tier) }))
      : [];
  let notice: string | null = null;
  if (!status || !enabled) notice = 'Billing is not enabled on this server: ask the administrator to change your plan.';
  else if (status.status === 'past_due') notice = 'The last payment failed: update your payment method in the billing portal to keep this plan.';
  else if (subscribed && status.cancelAtPeriodEnd)
    notice = `The subscription ends${status.currentPeriodEnd ? ` on ${status.currentPeriodEnd.slice(0, 10)}` : ' at the end of the period'}; resume it to keep this plan.`;
  return {
    tier,
    enabled,
    status: status?.status ?? 'none',
    rows,
    upgrades,
    canManage: enabled && status.hasCustomer,
    canCancel: subscribed && !status.cancelAtPeriodEnd,
    canResume: subscribed && status.cancelAtPeriodEnd,
    notice,
    invoices: status?.invoices ?? [],
  };
}

function fmtAmount(cents: number, currency: string | null): string {
  const c = (currency ?? 'usd').toUpperCase();
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: c }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${c}`;
  }
}

export function BillingPage({ user }: { user: User }) {
  // GET /api/billing answers on every server with billing (enabled or self-hosted); an older server
  // without it (404/405) falls back to the profile and the usage endpoints.
  const billingRes = useAsync(async () => {
    try {
      return await billing.status();
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
  const me = (profile.data ?? user) as User & Me;
  const today = (me.today ?? {}) as Record<string, unknown>;
  const view = billingView(billingRes.data ?? null, me, {
    executionsPerDay: typeof today.executions === 'number' ? today.executions : undefined,
    concurrentRuns: typeof today.runningExecutions === 'number' ? today.runningExecutions : undefined,
    maxWorkflows: wfs.data?.length,
    monthlyPlatformCostUsd: month?.totals.cost,
  });
  // Checkout and the portal are Stripe pages: follow the URL they answer.
  const act = async (f: () => Promise<{ url?: string } | BillingStatus>, note?: string) => {
    setState({ busy: true });
    try {
      const r = (await f()) as { url?: unknown };
      if (typeof r.url === 'string') {
        window.location.assign(r.url);
        return;
      }
      setState({ note });
      billingRes.reload();
      profile.reload();
    } catch (e) {
      setState({ error: e });
    }
  };
  return (
    <Page title="Plan and billing">
      <ErrorBox error={billingRes.error ?? profile.error} onRetry={() => (billingRes.reload(), profile.reload())} />
      {(billingRes.loading || profile.loading) && <Spinner />}
      {!billingRes.loading && !profile.loading && (
        <div className="space-y-4">
          <div className="rounded bg-white p-4 shadow-sm">
            <div className="text-xs text-slate-500">Current plan</div>
            <div className="text-2xl font-semibold capitalize" data-testid="plan-tier">
              {view.tier}
            </div>
            {view.enabled && view.status !== 'none' && (
              <p className="mt-1 text-sm text-slate-600" data-testid="plan-status">
                Subscription: {view.status.replace('_', ' ')}
              </p>
            )}
            {month && (
              <p className="mt-1 text-sm text-slate-600">
                Last 30 days: {fmtCost(month.totals.cost)}, {month.totals.tokens.toLocaleString()} tokens
              </p>
            )}
          </div>
          <section className="rounded bg-white p-4 shadow-sm" aria-label="Limits">
            <h2 className="mb-2 text-sm font-semibold">Usage against limits</h2>
            {view.rows.length === 0 && <p className="text-sm text-slate-500">No limits on this plan.</p>}
            {view.rows.map((r) => {
              if (r.unlimited)
                return (
                  <div key={r.key} className="mb-2 flex justify-between text-sm">
                    <span>{r.label}</span>
                    <span className="text-slate-500">unlimited</span>
                  </div>
                );
              const fmt = (x: number) => (r.money ? fmtCost(x) : x.toLocaleString());
              return (
                <div key={r.key} className="mb-2 text-sm">
                  <div className="flex justify-between">
                    <span>{r.label}</span>
                    <span>
                      {r.used != null ? `${fmt(r.used)} / ` : 'limit '}
                      {r.limit != null ? fmt(r.limit) : ''}
                    </span>
                  </div>
                  {r.pct != null && (
                    <div className="h-2 rounded bg-slate-200" role="progressbar" aria-label={r.label} aria-valuenow={Math.round(r.pct)} aria-valuemin={0} aria-valuemax={100}>
                      <div className={`h-2 rounded ${r.pct > 90 ? 'bg-red-500' : 'bg-indigo-500'}`} style={{ width: `${r.pct}%` }} />
                    </div>
                  )}
                </div>
              );
            })}
          </section>
          <section className="rounded bg-white p-4 shadow-sm">
            <h2 className="mb-2 text-sm font-semibold">Change plan</h2>
            {view.notice && <p className="mb-2 text-sm text-slate-600">{view.notice}</p>}
            <div className="flex flex-wrap gap-2">
              {view.upgrades.map((p) => (
                <Button key={p.tier} variant="primary" disabled={state.busy} onClick={() => void act(() => billing.checkout(p.tier))}>
                  {p.higher ? 'Upgrade' : 'Switch'} to {p.tier}
                </Button>
              ))}
              {view.canManage && (
                <Button disabled={state.busy} onClick={() => void act(() => billing.portal())}>
                  Manage billing
                </Button>
              )}
              {view.canCancel && (
                <Button disabled={state.busy} onClick={() => void act(() => billing.cancel(), 'The subscription will end at the end of the period.')}>
                  Cancel subscription
                </Button>
              )}
              {view.canResume && (
                <Button variant="primary" disabled={state.busy} onClick={() => void act(() => billing.resume(), 'The subscription continues.')}>
                  Resume subscription
                </Button>
              )}
            </div>
            {state.note && (
              <p role="status" className="mt-2 text-sm text-emerald-700">
                {state.note}
              </p>
            )}
            <ErrorBox error={state.error} />
          </section>
          {view.invoices.length > 0 && (
            <section className="rounded bg-white p-4 shadow-sm" aria-label="Invoices">
              <h2 className="mb-2 text-sm font-semibold">Invoices</h2>
              <table className="w-full text-sm">
                <tbody>
                  {view.invoices.map((inv, i) => (
                    <tr key={inv.id ?? i} className="border-t border-slate-100">
                      <td className="py-1">{inv.created.slice(0, 10)}</td>
                      <td>{inv.number ?? inv.id}</td>
                      <td className="capitalize">{inv.status ?? ''}</td>
                      <td className="text-right">{fmtAmount(inv.amountDue, inv.currency)}</td>
                      <td className="text-right">
                        {inv.hostedInvoiceUrl && (
                          <a className="underline" href={inv.hostedInvoiceUrl} target="_blank" rel="noreferrer">
                            View
                          </a>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
          {billingRes.data?.invoicesError && <p className="text-sm text-amber-700">{billingRes.data.invoicesError}</p>}
        </div>
      )}
    </Page>
  );
}
