'use strict';
// The `chorus` package (CommonJS entry; lib/index.mjs re-exports it for `import`). Everything
// runs in C++ on one io thread; this file shapes the API: Promises, async iterators, AbortSignal,
// error classes, JS custom providers. See docs/node.md.

const path = require('node:path');
const errors = require('./errors.js');

const { errorFromJSON, errorToJSON, fromNative, InvalidArgumentError,
        WorkflowValidationError, CancelledError } = errors;

// The addon is loaded on first use, so `require('chorus')` stays cheap.
let nativeModule = null;
function native() {
  if (nativeModule === null) {
    const n = require(path.join(__dirname, '..', 'build', 'chorus.node'));
    n.setHandlers(onNativeBatch, onNativeDone);
    nativeModule = n;
  }
  return nativeModule;
}

// Calls, streams and runs in flight, by the id the addon gave them. The addon reports every
// operation through the two functions below (one pair for the process, installed with the
// addon), so an operation in flight costs one record here and no per-operation callback,
// reference or wrapper on the native side (docs/decisions/binding-memory.md). A record has
// `batch(...)` (stream text or run events, as the addon sends them) and `done(err, res)`.
const inflight = new Map();

function onNativeBatch(id, a, b) {
  const rec = inflight.get(id);
  if (rec !== undefined) rec.batch(a, b);
}

function onNativeDone(id, err, res) {
  const rec = inflight.get(id);
  if (rec === undefined) return;
  inflight.delete(id);
  rec.done(err, res);
}

function track(id, rec) {
  inflight.set(id, rec);
  return id;
}

const kHandle = Symbol('chorus.handle');
const kDoc = Symbol('chorus.document');

function invalid(message) {
  return new InvalidArgumentError(message, { code: 'invalid_argument' });
}

function abortError(signal) {
  const reason = signal && signal.reason;
  const message = reason instanceof Error ? reason.message : 'the operation was aborted';
  return new CancelledError(message, { code: 'cancelled', cause: reason });
}

function checkSignal(signal, where) {
  if (signal !== undefined && signal !== null &&
      (typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) {
    throw invalid(`${where}.signal: must be an AbortSignal`);
  }
}

function optionalObject(value, name) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object') throw invalid(`${name}: must be an object`);
  return value;
}

function toResponse(wire) {
  wire.executionTime = wire.latencyMs;  // the seed's LLMResponse name
  return wire;
}

/** A queue of values pushed by C++ batches and pulled by `for await`. */
class AsyncQueue {
  constructor(onReturn) {
    this.items = [];
    this.head = 0;
    this.waiter = null;
    this.ended = false;
    this.failure = null;
    this.onReturn = onReturn;
  }

  push(value) {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value, done: false });
    } else {
      this.items.push(value);
    }
  }

  end(failure) {
    this.ended = true;
    this.failure = failure ?? null;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      if (this.failure) w.reject(this.failure);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next() {
    if (this.head < this.items.length) {
      const value = this.items[this.head];
      this.items[this.head++] = undefined;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) {
      if (this.failure) {
        const f = this.failure;
        this.failure = null;  // thrown once
        return Promise.reject(f);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  return() {
    if (!this.ended) this.onReturn();
    this.ended = true;
    this.items = [];
    this.head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Custom providers written in JS

function lastUserMessage(messages) {
  for (let i = messages.length - 1; i >= 0; --i) {
    if (messages[i].role === 'user') return messages[i].content;
  }
  return messages.length ? messages[messages.length - 1].content : '';
}

function providerResponse(r) {
  if (typeof r === 'string') return { content: r };
  if (r === null || typeof r !== 'object') {
    throw invalid('custom provider: execute() must return a string or an LLMResponse object');
  }
  const out = { content: r.content };
  if (r.reasoning !== undefined) out.reasoning = r.reasoning;
  if (r.usage != null) out.usage = r.usage;
  if (r.cost != null) out.cost = r.cost;
  if (r.model) out.model = r.model;
  if (r.finishReason) out.finishReason = r.finishReason;
  if (r.requestId) out.requestId = r.requestId;
  return out;
}

function makeRunner(providerId) {
  // Called by C++ on the JS thread for each call; returns the function that aborts it.
  return function runProviderCall(impl, requestJson, streaming, call) {
    const n = native();
    const req = JSON.parse(requestJson);
    const controller = new AbortController();
    const config = {
      provider: providerId, model: req.model, systemPrompt: req.systemPrompt,
      temperature: req.temperature, maxTokens: req.maxTokens, stop: req.stop,
      jsonMode: req.jsonMode, timeoutMs: req.timeoutMs, apiKey: req.apiKey,
    };
    const context = { messages: req.messages, signal: controller.signal };
    const prompt = lastUserMessage(req.messages);
    (async () => {
      try {
        if (streaming && typeof impl.stream === 'function') {
          let final = {};
          for await (const piece of impl.stream(prompt, config, context)) {
            if (controller.signal.aborted) break;
            if (typeof piece === 'string') {
              n.callDelta(call, piece, '');
            } else if (piece && typeof piece === 'object' && typeof piece.content === 'string') {
              final = piece;  // a closing LLMResponse with usage/cost
            } else if (piece && typeof piece === 'object') {
              n.callDelta(call, piece.text ?? '', piece.reasoning ?? '');
            }
          }
          const resp = providerResponse(final);
          if (typeof resp.content !== 'string') resp.content = '';
          n.callFinish(call, JSON.stringify(resp));
        } else {
          const resp = providerResponse(await impl.execute(prompt, config, context));
          if (streaming && typeof resp.content === 'string' && resp.content) {
            n.callDelta(call, resp.content, '');
          }
          n.callFinish(call, JSON.stringify(resp));
        }
      } catch (e) {
        n.callFail(call, JSON.stringify(errorToJSON(fromNative(e), providerId)));
      }
    })();
    return () => controller.abort();
  };
}

// ---------------------------------------------------------------------------------------------
// Client

class Client {
  /**
   * Providers come configured from the environment (OPENAI_API_KEY, OPENAI_BASE_URL, ...);
   * `apiKeys` / `baseUrls` (per provider id) override them.
   */
  constructor(options = {}) {
    const o = optionalObject(options, 'options');
    const wire = {};
    for (const key of ['apiKeys', 'baseUrls']) {
      if (o[key] !== undefined) wire[key] = optionalObject(o[key], `options.${key}`);
    }
    if (o.timeoutMs !== undefined) wire.timeoutMs = o.timeoutMs;
    if (o.maxRetries !== undefined) wire.maxRetries = o.maxRetries;
    try {
      this[kHandle] = native().createClient(JSON.stringify(wire));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Ids of the registered providers, sorted. */
  providers() {
    return native().clientProviders(this[kHandle]);
  }

  /** Known models of a provider, with prices (USD per 1M tokens) and context windows. */
  models(provider) {
    try {
      return JSON.parse(native().clientModels(this[kHandle], String(provider)));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * Registers a provider written in JS: an object with `execute(prompt, config, context)`
   * (returning an LLMResponse or a string) and optionally `stream(prompt, config, context)` (an
   * async iterable of strings or {text, reasoning}), plus `id` (default `name`), `name`, `models`.
   */
  registerProvider(provider) {
    if (provider === null || typeof provider !== 'object') {
      throw invalid('provider: must be an object with execute(prompt, config)');
    }
    if (typeof provider.execute !== 'function') {
      throw invalid('provider.execute: must be a function');
    }
    if (provider.stream !== undefined && typeof provider.stream !== 'function') {
      throw invalid('provider.stream: must be a function when given');
    }
    const id = provider.id ?? provider.name;
    if (typeof id !== 'string' || id === '') {
      throw invalid('provider.id: must be a non-empty string (or give provider.name)');
    }
    const models = Array.isArray(provider.models) ? provider.models.map(String) : [];
    try {
      native().registerProvider(this[kHandle], id, String(provider.name ?? id), models, provider,
                                makeRunner(id));
    } catch (e) {
      throw fromNative(e);
    }
    return this;
  }

  // Starts a call reporting to `rec` (see `inflight`); returns its id.
  #start(request, stream, rec) {
    if (request === null || typeof request !== 'object') {
      throw invalid('request: must be an object {provider, model, prompt, ...}');
    }
    const { provider, ...rest } = request;
    if (typeof provider !== 'string' || provider === '') {
      throw invalid('provider: required (a provider id such as "openai")');
    }
    try {
      return track(native().complete(this[kHandle], provider, JSON.stringify(rest), stream), rec);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** One chat completion. Rejects with a ChorusError subclass. */
  complete(request, options = {}) {
    return new Promise((resolve, reject) => {
      const { signal } = optionalObject(options, 'options');
      checkSignal(signal, 'options');
      if (signal && signal.aborted) {
        reject(abortError(signal));
        return;
      }
      const call = new PendingCall(resolve, reject);
      call.id = this.#start(request, false, call);
      if (signal) listenAbort(call, signal);
    });
  }

  /**
   * A streamed chat completion: an async iterable of {text, reasoning} pieces (several tokens
   * per piece when they arrive together); `await stream.response` gives the LLMResponse.
   * Breaking out of the loop or aborting `signal` cancels the call.
   */
  stream(request, options = {}) {
    const { signal } = optionalObject(options, 'options');
    checkSignal(signal, 'options');
    return new ChatStream((rec) => this.#start(request, true, rec), signal);
  }
}

// Cancels `rec`'s operation when `signal` aborts; rec.done() removes the listener (unlisten).
function listenAbort(rec, signal) {
  rec.signal = signal;
  rec.onAbort = () => native().cancel(rec.id);
  signal.addEventListener('abort', rec.onAbort, { once: true });
}

function unlisten(rec) {
  if (rec.onAbort !== null) rec.signal.removeEventListener('abort', rec.onAbort);
}

/** The record of a complete() in flight. */
class PendingCall {
  constructor(resolve, reject) {
    this.resolve = resolve;
    this.reject = reject;
    this.id = 0;
    this.signal = null;
    this.onAbort = null;
  }

  batch() {}

  done(err, res) {
    unlisten(this);
    const wire = JSON.parse(res);
    if (err) this.reject(errorFromJSON(JSON.parse(err), { response: wire }));
    else this.resolve(toResponse(wire));
  }
}

class ChatStream {
  constructor(start, signal) {
    let id = 0;
    const cancel = () => { if (id) native().cancel(id); };
    this.queue = new AsyncQueue(cancel);
    let settle;
    this.response = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    this.response.catch(() => {});  // observed through the iterator too: never unhandled
    if (signal && signal.aborted) {
      const e = abortError(signal);
      this.queue.end(e);
      settle.reject(e);
      return;
    }
    const queue = this.queue;
    const rec = {
      id: 0,
      signal: null,
      onAbort: null,
      batch(text, reasoning) { queue.push({ text, reasoning }); },
      done(err, res) {
        unlisten(rec);
        const wire = JSON.parse(res);
        if (err) {
          const e = errorFromJSON(JSON.parse(err), { response: wire });
          queue.end(e);
          settle.reject(e);
        } else {
          queue.end();
          settle.resolve(toResponse(wire));
        }
      },
    };
    try {
      id = rec.id = start(rec);
    } catch (e) {
      this.queue.end(e);
      settle.reject(e);
      return;
    }
    if (signal) listenAbort(rec, signal);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    return this.queue.next();
  }

  return() {
    return this.queue.return();
  }
}

let defaultClientInstance = null;
/** The Client used by run()/runStream() when none is given (created on first use). */
function defaultClient() {
  if (defaultClientInstance === null) defaultClientInstance = new Client();
  return defaultClientInstance;
}
function setDefaultClient(client) {
  if (!(client instanceof Client)) throw invalid('client: must be a chorus.Client');
  defaultClientInstance = client;
}

// ---------------------------------------------------------------------------------------------
// Workflows

class Workflow {
  constructor(handle) {
    this[kHandle] = handle;
    this[kDoc] = undefined;
  }

  /**
   * Reads a workflow document (an object or JSON text). Throws WorkflowValidationError (with
   * `problems`) only when the document is unusable; otherwise call validate().
   */
  static fromJSON(document) {
    const text = typeof document === 'string' ? document : JSON.stringify(document);
    if (typeof text !== 'string') throw invalid('workflow: must be an object or JSON text');
    const [handle, problemsJson] = native().parseWorkflow(text);
    if (handle === null) {
      const problems = JSON.parse(problemsJson);
      const first = problems.length ? problems[0].message : 'not a workflow document';
      throw new WorkflowValidationError(`invalid workflow: ${first}`,
                                        { code: 'invalid_workflow', problems });
    }
    return new Workflow(handle);
  }

  /** Reads a workflow document from a file (synchronously). */
  static fromFile(file) {
    return Workflow.fromJSON(require('node:fs').readFileSync(file, 'utf8'));
  }

  /** Every problem at once ({severity, code, message, nodeId?, edgeId?, field?}); [] if none. */
  validate(options = {}) {
    const { client } = optionalObject(options, 'options');
    return JSON.parse(native().validateWorkflow(this[kHandle],
                                                client ? client[kHandle] : null));
  }

  /** The document exactly as read (unknown fields and key order kept). */
  toJSON() {
    if (this[kDoc] === undefined) {
      this[kDoc] = JSON.parse(native().workflowJson(this[kHandle], false));
    }
    return this[kDoc];
  }

  toString(pretty = false) {
    return native().workflowJson(this[kHandle], Boolean(pretty));
  }

  get id() { return this.toJSON().id ?? ''; }
  get name() { return this.toJSON().name ?? ''; }
  get description() { return this.toJSON().description; }
  get nodes() { return this.toJSON().nodes ?? []; }
  get edges() { return this.toJSON().edges ?? []; }
}

function toWorkflow(w) {
  return w instanceof Workflow ? w : Workflow.fromJSON(w);
}

function runWire(o) {
  // The usual case (no limits, no keys, no run id) without building and serialising an object:
  // a per-run cost, in CPU and garbage.
  if (o.maxCostUsd === undefined && o.maxTokens === undefined && o.maxConcurrency === undefined &&
      o.providerConcurrency === undefined && o.apiKeys === undefined && o.runId === undefined) {
    if (o.streamTokens === undefined) return '{}';
    if (o.streamTokens === false) return '{"streamTokens":false}';
    if (o.streamTokens === true) return '{"streamTokens":true}';
  }
  const wire = {};
  for (const key of ['maxCostUsd', 'maxTokens', 'maxConcurrency', 'providerConcurrency',
                     'apiKeys', 'runId', 'streamTokens']) {
    if (o[key] !== undefined) wire[key] = o[key];
  }
  return JSON.stringify(wire);
}

// Starts a run reporting to `rec` (see `inflight`; run events only when `events`); returns its id.
function startRun(workflow, input, o, rec, events) {
  const wf = toWorkflow(workflow);
  const client = o.client ?? defaultClient();
  if (!(client instanceof Client)) throw invalid('options.client: must be a chorus.Client');
  if (typeof input !== 'string') throw invalid('input: must be a string');
  checkSignal(o.signal, 'options');
  const signal = o.signal;
  if (signal && signal.aborted) throw abortError(signal);
  try {
    rec.id = track(native().run(client[kHandle], wf[kHandle], input, runWire(o), events), rec);
  } catch (e) {
    throw fromNative(e);
  }
  if (signal) listenAbort(rec, signal);
  return rec.id;
}

function settleRun(err, res, throwOnFailure) {
  const result = JSON.parse(res);
  if (err && throwOnFailure !== false) {
    const e = errorFromJSON(JSON.parse(err), { result });
    if (e.code === 'invalid_workflow' && !e.problems) e.problems = [];
    return { error: e };
  }
  return { result };
}

/**
 * The record of a run() in flight: one object, no closures (a thousand runs in flight are a
 * thousand of these, their Promises and nothing else on the JS side).
 */
class PendingRun {
  constructor(resolve, reject, o) {
    this.resolve = resolve;
    this.reject = reject;
    this.onEvent = o.onEvent ?? null;
    this.throwOnFailure = o.throwOnFailure;
    this.failure = null;
    this.id = 0;
    this.signal = null;
    this.onAbort = null;
  }

  batch(events) {
    if (this.failure) return;
    for (const ev of JSON.parse(`[${events}]`)) {
      try {
        this.onEvent(ev);
      } catch (e) {  // stop the run; reject with the callback's error once it stopped
        this.failure = e;
        native().cancel(this.id);
        return;
      }
    }
  }

  done(err, res) {
    unlisten(this);
    if (this.failure) {
      this.reject(this.failure);
      return;
    }
    const { error, result } = settleRun(err, res, this.throwOnFailure);
    if (error) this.reject(error);
    else this.resolve(result);
  }
}

/**
 * Runs a workflow on `input`. Resolves with the RunResult (the same JSON as `chorus run --json`).
 * When the run does not succeed, rejects with the ChorusError of its kind carrying the complete
 * RunResult in `error.result` (or resolves anyway with `throwOnFailure: false`).
 */
function run(workflow, input = '', options = {}) {
  return new Promise((resolve, reject) => {
    const o = optionalObject(options, 'options');
    if (o.onEvent !== undefined && typeof o.onEvent !== 'function') {
      throw invalid('options.onEvent: must be a function');
    }
    const rec = new PendingRun(resolve, reject, o);
    startRun(workflow, input, o, rec, rec.onEvent !== null);
  });
}

/**
 * Runs a workflow and yields its events ({type, runId, seq, timeMs, ...}, see docs/events.md)
 * as they happen, ending after `run_finished`. `await stream.result` gives the RunResult as
 * run() does. Breaking out of the loop or aborting `signal` cancels the run.
 */
function runStream(workflow, input = '', options = {}) {
  return new RunStream(workflow, input, optionalObject(options, 'options'));
}

class RunStream {
  constructor(workflow, input, o) {
    let id = 0;
    this.queue = new AsyncQueue(() => { if (id) native().cancel(id); });
    let settle;
    this.result = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    this.result.catch(() => {});
    const queue = this.queue;
    const rec = {
      id: 0,
      signal: null,
      onAbort: null,
      batch(events) {
        for (const ev of JSON.parse(`[${events}]`)) queue.push(ev);
      },
      done(err, res) {
        unlisten(rec);
        const { error, result } = settleRun(err, res, o.throwOnFailure);
        queue.end();
        if (error) settle.reject(error);
        else settle.resolve(result);
      },
    };
    try {
      id = startRun(workflow, input, o, rec, true);
    } catch (e) {
      this.queue.end(e);
      settle.reject(e);
    }
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    return this.queue.next();
  }

  return() {
    return this.queue.return();
  }
}

/** Counters of the native bridge (ThreadSafeFunction wake-ups and deliveries), for tests. */
function nativeStats() {
  return native().stats();
}

module.exports = {
  Client, ChatStream, Workflow, RunStream, run, runStream, defaultClient, setDefaultClient,
  nativeStats, version: '0.1.0', ...errors,
};
delete module.exports.errorToJSON;
delete module.exports.fromNative;
