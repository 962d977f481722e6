// The plan page's data handling (billingView) and the billing calls of the REST client against a
// real local HTTP server (node:http on 127.0.0.1, port 0).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, billing, setApiBase, setCsrfToken, type BillingStatus } from '../src/api';
import { billingView } from '../src/pages/AccountPages';

const limits = { executionsPerDay: 100, concurrentRuns: 2, maxNodes: 25, maxWorkflows: 0, monthlyPlatformCostUsd: 1 };

function status(over: Partial<BillingStatus> = {}): BillingStatus {
  return {
    enabled: true,
    tier: 'free',
    status: 'none',
    cancelAtPeriodEnd: false,
    currentPeriodEnd: null,
    hasCustomer: false,
    limits,
    usage: { executionsPerDay: 50, concurrentRuns: 0, maxNodes: null, maxWorkflows: 3, monthlyPlatformCostUsd: 0.25 },
    upgradeTo: 'pro',
    plans: [
      { tier: 'free', limits, purchasable: false, current: true },
      { tier: 'pro', limits, purchasable: true, current: false },
      { tier: 'team', limits, purchasable: true, current: false },
    ],
    metered: null,
    invoices: [],
    ...over,
  };
}

describe('billingView', () => {
  it('shows usage against each limit from GET /api/billing', () => {
    const v = billingView(status(), { tier: 'ignored' }, {});
    expect(v.tier).toBe('free');
    const row = (k: string) => v.rows.find((r) => r.key === k)!;
    expect(row('executionsPerDay')).toMatchObject({ used: 50, limit: 100, pct: 50, unlimited: false });
    expect(row('maxWorkflows').unlimited).toBe(true); // 0 = unlimited for counts
    expect(row('maxNodes')).toMatchObject({ used: null, limit: 25, pct: null });
    expect(row('monthlyPlatformCostUsd')).toMatchObject({ money: true, pct: 25 });
  });

  it('treats a cost limit of 0 as none included and null as unlimited', () => {
    const zero = billingView(status({ limits: { monthlyPlatformCostUsd: 0 }, usage: { monthlyPlatformCostUsd: 0 } }), {}, {});
    expect(zero.rows[0]).toMatchObject({ unlimited: false, pct: 100 });
    const none = billingView(status({ limits: { monthlyPlatformCostUsd: null } }), {}, {});
    expect(none.rows[0].unlimited).toBe(true);
  });

  it('offers checkout for purchasable plans until subscribed, then the portal and cancel', () => {
    const free = billingView(status(), {}, {});
    expect(free.upgrades).toEqual([
      { tier: 'pro', higher: true },
      { tier: 'team', higher: true },
    ]);
    expect([free.canManage, free.canCancel, free.canResume]).toEqual([false, false, false]);
    expect(free.notice).toBeNull();

    const paid = billingView(
      status({ tier: 'pro', status: 'active', hasCustomer: true, plans: status().plans.map((p) => ({ ...p, current: p.tier === 'pro' })) }),
      {},
      {},
    );
    expect(paid.upgrades).toEqual([]);
    expect([paid.canManage, paid.canCancel, paid.canResume]).toEqual([true, true, false]);

    const ending = billingView(status({ tier: 'pro', status: 'active', hasCustomer: true, cancelAtPeriodEnd: true, currentPeriodEnd: '2026-12-25T00:00:00.000Z' }), {}, {});
    expect([ending.canCancel, ending.canResume]).toEqual([false, true]);
    expect(ending.notice).toContain('2026-12-25');

    expect(billingView(status({ tier: 'pro', status: 'past_due', hasCustomer: true }), {}, {}).notice).toContain('payment failed');
  });

  it('self-hosted: plan and limits, no purchase, a clear notice', () => {
    const v = billingView(status({ enabled: false, tier: 'team', plans: status().plans.map((p) => ({ ...p, purchasable: false })) }), {}, {});
    expect(v.tier).toBe('team');
    expect(v.upgrades).toEqual([]);
    expect(v.canManage).toBe(false);
    expect(v.notice).toContain('not enabled');
  });

  it('falls back to the profile and measured usage on a server without /api/billing', () => {
    const v = billingView(null, { tier: 'pro', limits: { executionsPerDay: 10 } }, { executionsPerDay: 4 });
    expect(v.tier).toBe('pro');
    expect(v.rows).toEqual([expect.objectContaining({ key: 'executionsPerDay', used: 4, limit: 10, pct: 40 })]);
    expect(v.enabled).toBe(false);
  });
});

describe('billing client', () => {
  let server: Server;
  const seen: { method: string; url: string; body: string; csrf?: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body, csrf: req.headers['x-csrf-token'] as string | undefined });
        const send = (code: number, obj: unknown) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        if (req.url === '/api/billing') send(200, status({ enabled: false }));
        else if (req.url === '/api/billing/checkout')
          send(200, { url: 'https://checkout.stripe.com/c/pay/cs_test_1', sessionId: 'cs_test_1', plan: JSON.parse(body).plan });
        else send(404, { error: { code: 'billing_disabled', message: 'billing is not enabled on this server', details: {} } });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    setApiBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    setCsrfToken('csrf-1');
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads the status and starts a checkout with the plan', async () => {
    expect((await billing.status()).enabled).toBe(false);
    const r = await billing.checkout('pro');
    expect(r.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    const post = seen.find((s) => s.url === '/api/billing/checkout')!;
    expect(post.method).toBe('POST');
    expect(JSON.parse(post.body)).toEqual({ plan: 'pro' });
    expect(post.csrf).toBe('csrf-1');
  });

  it('surfaces billing_disabled as an ApiError', async () => {
    const err = await billing.portal().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('billing_disabled');
    expect((err as ApiError).status).toBe(404);
  });
});
