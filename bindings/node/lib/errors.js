'use strict';
// The error classes: one per chorus::errc kind, all subclasses of ChorusError, carrying what the
// C++ chorus::Error carries (code, status, provider, retryAfterMs, requestId, vendorCode, nodeId).

class ChorusError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, status?: number, provider?: string, retryAfterMs?: number | null,
   *          requestId?: string, vendorCode?: string, nodeId?: string, result?: object,
   *          problems?: object[], cause?: unknown}} [details]
   */
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code ?? new.target.code ?? 'error';
    this.status = details.status ?? 0;
    this.provider = details.provider ?? '';
    this.retryAfterMs = details.retryAfterMs ?? null;
    this.requestId = details.requestId ?? '';
    this.vendorCode = details.vendorCode ?? '';
    this.nodeId = details.nodeId ?? '';
    if (details.result !== undefined) this.result = details.result;
    if (details.problems !== undefined) this.problems = details.problems;
    if (details.response !== undefined) this.response = details.response;
  }
}

const classes = {};
function define(name, code) {
  const cls = { [name]: class extends ChorusError {} }[name];
  cls.code = code;
  classes[code] = cls;
  return cls;
}

const RateLimitError = define('RateLimitError', 'rate_limited');
const AuthError = define('AuthError', 'auth');
const QuotaExceededError = define('QuotaExceededError', 'quota_exceeded');
const OverloadedError = define('OverloadedError', 'overloaded');
const ContextLengthError = define('ContextLengthError', 'context_length');
const ContentFilterError = define('ContentFilterError', 'content_filter');
const BadRequestError = define('BadRequestError', 'bad_request');
const ServerError = define('ServerError', 'server');
const ProtocolError = define('ProtocolError', 'protocol');
const TimeoutError = define('TimeoutError', 'timeout');
const CancelledError = define('CancelledError', 'cancelled');
const ConnectError = define('ConnectError', 'connect_failed');
const TLSError = define('TLSError', 'tls_failed');
const ConnectionClosedError = define('ConnectionClosedError', 'connection_closed');
const InvalidArgumentError = define('InvalidArgumentError', 'invalid_argument');
const WorkflowValidationError = define('WorkflowValidationError', 'invalid_workflow');
const UnknownProviderError = define('UnknownProviderError', 'unknown_provider');
const UnknownModelError = define('UnknownModelError', 'unknown_model');
const BudgetExceededError = define('BudgetExceededError', 'budget_exceeded');
const NodeFailedError = define('NodeFailedError', 'node_failed');
const NotFoundError = define('NotFoundError', 'not_found');

/**
 * The error of a wire object {kind, message, provider?, status?, requestId?, vendorCode?,
 * retryAfterMs?, nodeId?} as results, events and the native module give them.
 */
function errorFromJSON(wire, extra = {}) {
  const cls = classes[wire.kind] ?? ChorusError;
  return new cls(wire.message || wire.kind, {
    code: wire.kind,
    status: wire.status,
    provider: wire.provider,
    retryAfterMs: wire.retryAfterMs,
    requestId: wire.requestId,
    vendorCode: wire.vendorCode,
    nodeId: wire.nodeId,
    ...extra,
  });
}

/** The wire object of an error thrown by a custom provider. */
function errorToJSON(e, providerId) {
  if (e instanceof ChorusError) {
    const o = { kind: e.code, message: e.message, status: e.status, requestId: e.requestId,
                vendorCode: e.vendorCode };
    if (e.retryAfterMs != null) o.retryAfterMs = Math.round(e.retryAfterMs);
    return o;
  }
  if (e && e.name === 'AbortError') return { kind: 'cancelled', message: String(e.message) };
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { kind: 'server', message: `provider '${providerId}' threw ${what}` };
}

/** Native errors carry `chorusKind`; give them their class. Others pass through. */
function fromNative(e) {
  if (e && typeof e === 'object' && typeof e.chorusKind === 'string') {
    return errorFromJSON({ kind: e.chorusKind, message: e.message });
  }
  return e;
}

module.exports = {
  ChorusError, RateLimitError, AuthError, QuotaExceededError, OverloadedError,
  ContextLengthError, ContentFilterError, BadRequestError, ServerError, ProtocolError,
  TimeoutError, CancelledError, ConnectError, TLSError, ConnectionClosedError,
  InvalidArgumentError, WorkflowValidationError, UnknownProviderError, UnknownModelError,
  BudgetExceededError, NodeFailedError, NotFoundError,
  errorFromJSON, errorToJSON, fromNative,
};
