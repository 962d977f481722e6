// The REST client: every call to chorus-server goes through this module (docs/openapi.yaml).
// Cookie session; writes carry the CSRF token in X-CSRF-Token. Errors are ApiError with the
// server's {"error":{"code","message","details"}}.
import type { RunEvent, WorkflowDocument } from './types';
import { readSse } from './sse';
import type { ModelInfo } from './nodeKinds';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let base = '';
let csrfToken: string | null = null;

export function setApiBase(url: string) {
  base = url.replace(/\/$/, '');
}

export function setCsrfToken(t: string | null) {
  csrfToken = t;
}

function cookieCsrf(): string | null {
  if (typeof document === 'undefined') return null;
  const m = /(?:^|;\s*)(?:csrf_token|csrf|XSRF-TOKEN|chorus_csrf)=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : null;
}

function remember(body: unknown, res: Response) {
  const h = res.headers.get('x-csrf-token');
  if (h) csrfToken = h;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const t = b.csrfToken ?? b.csrf_token ?? b.csrf;
    if (typeof t === 'string') csrfToken = t;
  }
}

export async function errorFromResponse(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
  return new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? (res.statusText || `HTTP ${res.status}`), e?.details);
}

/** Whether this browser had a session last time: only then is the profile asked for at start,
 * so a logged-out visit does not begin with a 401. */
const SESSION_HINT = 'chorus.session';
export function hadSession(): boolean {
  try {
    return localStorage.getItem(SESSION_HINT) === '1' || /(?:^|;\s*)chorus_csrf=/.test(document.cookie);
  } catch {
    return true;
  }
}
function setSessionHint(on: boolean) {
  try {
    if (on) localStorage.setItem(SESSION_HINT, '1');
    else localStorage.removeItem(SESSION_HINT);
  } catch {
    /* storage disabled */
  }
}

export async function request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(init.headers as Record<string, string>) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken ?? cookieCsrf();
    if (t) headers['X-CSRF-Token'] = t;
  }
  let res: Response;
  try {
    res = await fetch(base + path, {
      ...init,
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server: ${(e as Error).message}`);
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  remember(parsed, res);
  return parsed as T;
}

/** Lists come as a bare array or wrapped ({items}, {workflows}, {data}, …). */
export function listOf<T>(body: unknown, ...keys: string[]): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    for (const k of [...keys, 'items', 'data', 'results']) if (Array.isArray(b[k])) return b[k] as T[];
  }
  return [];
}

// ---- auth and user ----

export interface User {
  id: string;
  email: string;
  name?: string;
  plan?: string;
  [k: string]: unknown;
}

function userOf(body: unknown): User {
  const b = (body ?? {}) as Record<string, unknown>;
  return ((b.user as User) ?? (b as User)) satisfies User;
}

export const auth = {
  register: async (email: string, password: string, name?: string) => {
    const u = userOf(await request('POST', '/api/auth/register', name ? { email, password, name } : { email, password }));
    setSessionHint(true);
    return u;
  },
  login: async (email: string, password: string) => {
    const u = userOf(await request('POST', '/api/auth/login', { email, password }));
    setSessionHint(true);
    return u;
  },
  logout: async () => {
    setSessionHint(false);
    try {
      await request('POST', '/api/auth/logout', {});
    } finally {
      csrfToken = null;
    }
  },
  profile: async () => {
    try {
      return userOf(await request('GET', '/api/user/profile'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setSessionHint(false);
      throw e;
    }
  },
  updateProfile: async (patch: Record<string, unknown>) => userOf(await request('PUT', '/api/user/profile', patch)),
};

export interface ApiKeyInfo {
  provider: string;
  last4?: string;
  hint?: string;
  valid?: boolean;
  updatedAt?: string;
  [k: string]: unknown;
}

export const apiKeys = {
  list: async () => listOf<ApiKeyInfo>(await request('GET', '/api/user/api-keys'), 'keys', 'apiKeys'),
  /** The server checks the key with the provider first unless skipValidation. */
  set: async (provider: string, key: string, skipValidation = false) =>
    listOf<ApiKeyInfo>(await request('PUT', '/api/user/api-keys', { provider, key, skip_validation: skipValidation }), 'keys'),
  remove: async (provider: string) => listOf<ApiKeyInfo>(await request('DELETE', `/api/user/api-keys/${encodeURIComponent(provider)}`), 'keys'),
};

export interface UsageRow {
  date?: string;
  day?: string;
  provider?: string;
  model?: string;
  workflowId?: string;
  workflowName?: string;
  cost?: number;
  tokens?: number;
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  executions?: number;
  [k: string]: unknown;
}

export const usage = {
  get: (params: Record<string, string> = {}) => {
    const q = new URLSearchParams(params).toString();
    return request<unknown>('GET', `/api/user/usage${q ? `?${q}` : ''}`);
  },
};

/** GET /api/billing (docs/openapi.yaml BillingStatus): the plan, its limits, usage against them. */
export interface BillingPlan {
  tier: string;
  limits: Record<string, number | null>;
  purchasable: boolean;
  current: boolean;
}
export interface BillingInvoice {
  id: string | null;
  number: string | null;
  status: string | null;
  amountDue: number;
  amountPaid: number;
  currency: string | null;
  created: string;
  hostedInvoiceUrl: string | null;
  invoicePdf: string | null;
}
export interface BillingStatus {
  enabled: boolean;
  tier: string;
  status: string;
  cancelAtPeriodEnd: boolean;
  currentPeriodEnd: string | null;
  hasCustomer: boolean;
  limits: Record<string, number | null>;
  usage: Record<string, number | null>;
  upgradeTo: string | null;
  plans: BillingPlan[];
  metered: { eventName: string; reportedThisMonth: number; pendingThisMonth: number } | null;
  invoices?: BillingInvoice[];
  invoicesError?: string;
}

/** Stripe billing (docs/billing.md). checkout/portal answer a Stripe URL to send the browser to;
 * on a self-hosted server (no Stripe) they fail with ApiError code billing_disabled. */
export const billing = {
  status: () => request<BillingStatus>('GET', '/api/billing'),
  checkout: (plan: string) => request<{ url: string; sessionId: string; plan: string }>('POST', '/api/billing/checkout', { plan }),
  portal: () => request<{ url: string }>('POST', '/api/billing/portal', {}),
  cancel: () => request<BillingStatus>('POST', '/api/billing/cancel'),
  resume: () => request<BillingStatus>('POST', '/api/billing/resume'),
};

export const health = () =>
  request<{ status?: string; providers?: string[]; features?: { models?: boolean; billing?: boolean } }>('GET', '/api/health');

// ---- workflows ----

export interface WorkflowSummary {
  id: string;
  name: string;
  description?: string;
  updatedAt?: string;
  createdAt?: string;
  [k: string]: unknown;
}

function docOf(body: unknown): WorkflowDocument {
  const b = (body ?? {}) as Record<string, unknown>;
  // Either the document itself, or a record wrapping it ({id, name, definition|document|graph}).
  const inner = (b.configuration ?? b.definition ?? b.document ?? b.workflow) as Record<string, unknown> | undefined;
  if (inner && typeof inner === 'object' && Array.isArray(inner.nodes)) {
    return { ...(inner as unknown as WorkflowDocument), id: String(b.id ?? inner.id ?? ''), name: String(b.name ?? inner.name ?? 'Untitled') };
  }
  return b as unknown as WorkflowDocument;
}

/** The server stores {name, description, configuration: the document as sent}. */
function submission(doc: WorkflowDocument) {
  return { name: doc.name, description: doc.description ?? '', configuration: doc };
}

export const workflows = {
  list: async () => listOf<WorkflowSummary>(await request('GET', '/api/workflows'), 'workflows'),
  get: async (id: string) => docOf(await request('GET', `/api/workflows/${encodeURIComponent(id)}`)),
  /** The document plus the record's version number. */
  getRecord: async (id: string) => {
    const body = await request<Record<string, unknown>>('GET', `/api/workflows/${encodeURIComponent(id)}`);
    return { doc: docOf(body), version: body.version as number | undefined };
  },
  create: async (doc: WorkflowDocument) => docOf(await request('POST', '/api/workflows', submission(doc))),
  update: async (id: string, doc: WorkflowDocument) => docOf(await request('PUT', `/api/workflows/${encodeURIComponent(id)}`, submission(doc))),
  remove: (id: string) => request<void>('DELETE', `/api/workflows/${encodeURIComponent(id)}`),
  versions: async (id: string) =>
    listOf<Record<string, unknown>>(await request('GET', `/api/workflows/${encodeURIComponent(id)}/versions`), 'versions'),
  version: async (id: string, v: string | number) => docOf(await request('GET', `/api/workflows/${encodeURIComponent(id)}/versions/${v}`)),
  validate: (doc: WorkflowDocument) => request<unknown>('POST', '/api/workflows/validate', doc),
};

export const models = {
  list: async () => {
    const body = await request<unknown>('GET', '/api/models');
    return listOf<Record<string, unknown>>(body, 'models').map(
      (m): ModelInfo => ({
        provider: String(m.provider ?? ''),
        id: String(m.id ?? m.model ?? m.name ?? ''),
        inputPrice: typeof m.inputPrice === 'number' ? m.inputPrice : (m.pricing as { input?: number } | undefined)?.input,
        outputPrice: typeof m.outputPrice === 'number' ? m.outputPrice : (m.pricing as { output?: number } | undefined)?.output,
        contextWindow: typeof m.contextWindow === 'number' ? m.contextWindow : undefined,
      }),
    );
  },
};

// ---- executions ----

export interface ExecutionSummary {
  id: string;
  workflowId?: string;
  workflowName?: string;
  status?: string;
  cost?: number;
  totalTokens?: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  [k: string]: unknown;
}

/**
 * Runs a workflow and streams its events. Resolves when the stream ends; abort the signal to
 * stop reading (call executions.cancel to stop the run on the server).
 */
export async function executeStream(
  workflowId: string,
  input: unknown,
  onEvents: (events: RunEvent[]) => void,
  signal?: AbortSignal,
  onExecutionId?: (id: string) => void,
): Promise<void> {
  const headers: Record<string, string> = { Accept: 'text/event-stream', 'Content-Type': 'application/json' };
  const t = csrfToken ?? cookieCsrf();
  if (t) headers['X-CSRF-Token'] = t;
  let res: Response;
  try {
    res = await fetch(`${base}/api/workflows/${encodeURIComponent(workflowId)}/execute`, {
      method: 'POST',
      headers,
      credentials: 'same-origin',
      body: JSON.stringify({ input }),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') return;
    throw new ApiError(0, 'network', `cannot reach the server: ${(e as Error).message}`);
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) throw new ApiError(res.status, 'no_body', 'the server sent no event stream');
  const execId = res.headers.get('x-execution-id');
  if (execId) onExecutionId?.(execId);
  try {
    await readSse(
      res.body,
      (msgs) => {
        const events: RunEvent[] = [];
        for (const m of msgs) {
          try {
            const ev = JSON.parse(m.data) as RunEvent;
            if (!ev.type && m.event !== 'message') ev.type = m.event;
            events.push(ev);
          } catch {
            /* a non-JSON keep-alive line */
          }
        }
        if (events.length) onEvents(events);
      },
      signal,
    );
  } catch (e) {
    if ((e as Error).name !== 'AbortError' && !signal?.aborted) throw e;
  }
}

export const executions = {
  list: async (params: Record<string, string> = {}) => {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString();
    return listOf<ExecutionSummary>(await request('GET', `/api/executions${q ? `?${q}` : ''}`), 'executions');
  },
  get: (id: string) => request<Record<string, unknown>>('GET', `/api/executions/${encodeURIComponent(id)}`),
  cancel: (id: string) => request<unknown>('POST', `/api/executions/${encodeURIComponent(id)}/cancel`, {}),
};

// ---- templates ----

export interface TemplateSummary {
  id: string;
  name: string;
  description?: string;
  category?: string;
  tags?: string[];
  public?: boolean;
  isPublic?: boolean;
  [k: string]: unknown;
}

export const templates = {
  list: async () => listOf<TemplateSummary>(await request('GET', '/api/templates'), 'templates'),
  get: (id: string) => request<Record<string, unknown>>('GET', `/api/templates/${encodeURIComponent(id)}`),
  templateDocument: (t: Record<string, unknown>) => docOf(t),
  use: async (id: string, name?: string) => docOf(await request('POST', `/api/templates/${encodeURIComponent(id)}/use`, name ? { name } : {})),
  publish: (body: { workflowId: string; name: string; description?: string; category?: string; tags?: string[]; public: boolean }) =>
    request<Record<string, unknown>>('POST', '/api/templates', body),
};

