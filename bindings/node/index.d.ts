// Type definitions of the `chorus` package, written by hand. The document and provider types
// mirror the seed's TypeScript interfaces (LLMProvider, LLMConfig, LLMResponse, Workflow,
// WorkflowNode, WorkflowEdge); results and events are the JSON shapes of docs/events.md.

// ---------------------------------------------------------------------------------------------
// Chat

/** How to call a model (the seed's LLMConfig). */
export interface LLMConfig {
  /** Provider id: "openai", "anthropic", "gemini", "deepseek", "openai-compatible", "simulated" or a custom one. */
  provider: string;
  model: string;
  temperature?: number;
  maxTokens?: number;
  systemPrompt?: string;
  stop?: string | string[];
  jsonMode?: boolean;
  /** JSON Schema of the answer, where the vendor supports it. */
  responseSchema?: unknown;
  timeoutMs?: number;
  /** Overrides the client's key for this call. Never logged. */
  apiKey?: string;
}

export type Role = 'system' | 'user' | 'assistant';

export interface Message {
  role: Role;
  content: string;
}

/** A chat call: a config plus a prompt (one user message) and/or a conversation. */
export interface ChatRequest extends LLMConfig {
  prompt?: string;
  messages?: Message[];
  /** Vendor parameters passed through verbatim. */
  extra?: Record<string, unknown>;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedPromptTokens?: number;
  reasoningTokens?: number;
  /** True when the counts are an estimate (the vendor reported none). */
  estimated?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'error' | 'unknown';

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** The result of a call (the seed's LLMResponse). */
export interface LLMResponse {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  usage: Usage;
  /** USD; null when the model has no known price. */
  cost: number | null;
  /** Milliseconds from request to complete response (the seed's name). */
  executionTime: number;
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  finishReason: FinishReason;
  finishReasonRaw: string;
  model: string;
  provider: string;
  requestId: string;
  attempts: number;
}

/** A piece of a streamed answer (one or more tokens). */
export interface StreamDelta {
  text: string;
  reasoning: string;
}

export interface CallOptions {
  /** Aborting it cancels the C++ operation; the Promise rejects with CancelledError. */
  signal?: AbortSignal;
}

export interface ModelInfo {
  id: string;
  inputPerMtok: number | null;
  outputPerMtok: number | null;
  cachedInputPerMtok: number | null;
  contextWindow: number | null;
}

export interface ClientOptions {
  /** Provider id -> API key (default: OPENAI_API_KEY, ANTHROPIC_API_KEY, ...). */
  apiKeys?: Record<string, string>;
  /** Provider id -> base URL (default: OPENAI_BASE_URL, ..., then the vendor's URL). */
  baseUrls?: Record<string, string>;
  /** Total deadline of each call. */
  timeoutMs?: number;
  /** Retries of retryable failures (429, 5xx, ...) before any text arrived. */
  maxRetries?: number;
}

// ---------------------------------------------------------------------------------------------
// Custom providers

/** What a custom provider's call receives besides the prompt and config. */
export interface ProviderCallContext {
  /** The whole conversation (the prompt is the last user message). */
  messages: Message[];
  /** Aborted when the caller cancels the call. */
  signal: AbortSignal;
}

/** What a custom provider may return: a string, or an LLMResponse-like object. */
export type ProviderResult =
  | string
  | {
      content: string;
      reasoning?: string;
      usage?: Partial<Usage>;
      cost?: number;
      model?: string;
      finishReason?: FinishReason;
      requestId?: string;
    };

/** An LLM provider written in JS (the seed's LLMProvider). */
export interface LLMProvider {
  /** Id used in workflows' `data.provider`; default: `name`. */
  id?: string;
  name: string;
  models?: string[];
  execute(prompt: string, config: LLMConfig, context: ProviderCallContext): Promise<ProviderResult> | ProviderResult;
  /** Streams the answer: strings or {text, reasoning}, optionally ending with a ProviderResult object. */
  stream?(prompt: string, config: LLMConfig, context: ProviderCallContext):
    AsyncIterable<string | Partial<StreamDelta> | Exclude<ProviderResult, string>>;
}

// ---------------------------------------------------------------------------------------------
// The workflow document (the seed's Workflow, WorkflowNode, WorkflowEdge; React Flow's shape)

export type NodeType = 'input' | 'output' | 'llm' | 'transform' | 'router' | 'merge' | 'loop' | 'map';

// Each kind's `data` (docs/workflow.schema.json; docs/workflows.md explains the fields). Unknown
// fields are kept. examples/editor/tests/document-types.ts checks at compile time that these and
// the types generated from the schema are assignable to each other, field by field.

/** A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}. */
export type TemplateText = string;

export type ConditionOp = 'contains' | 'equals' | 'regex' | 'json_field' | 'starts_with';

/** A test on a node's input text (router routes, loop exitCondition). */
export interface Condition {
  op: ConditionOp;
  value?: string | number | boolean;
  /** json_field only: a JSON path such as "a.b[0]". */
  path?: string;
  ignoreCase?: boolean;
  [key: string]: unknown;
}

export interface ModelRef {
  provider: string;
  model: string;
  [key: string]: unknown;
}

export interface InputNodeData {
  /** The node's name on the editor's canvas. */
  label?: string;
  /** Used when the run's input is empty. */
  defaultValue?: string;
  [key: string]: unknown;
}

export interface OutputNodeData {
  label?: string;
  /** Default {{input}}. */
  template?: TemplateText;
  [key: string]: unknown;
}

export interface LlmNodeData {
  label?: string;
  provider: string;
  model: string;
  systemPrompt?: TemplateText;
  /** Default {{input}}. */
  prompt?: TemplateText;
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  jsonMode?: boolean;
  timeoutMs?: number;
  retries?: number;
  fallbacks?: ModelRef[];
  onError?: 'fail' | 'continue' | 'branch';
  /** onError "continue": the node's output. */
  defaultOutput?: string;
  [key: string]: unknown;
}

export interface TransformNodeData {
  label?: string;
  op: 'template' | 'json_extract' | 'regex_extract' | 'split' | 'join' | 'trim' | 'uppercase' | 'lowercase' | 'truncate';
  template?: TemplateText;
  path?: string;
  pattern?: string;
  group?: number;
  ignoreCase?: boolean;
  separator?: string;
  skipEmpty?: boolean;
  maxTokens?: number;
  [key: string]: unknown;
}

export interface RouterNodeData {
  label?: string;
  mode?: 'condition' | 'classify';
  /** condition mode: the first route whose condition matches wins. */
  routes?: (Condition & { label: string })[];
  defaultRoute?: string;
  /** classify mode: the classification call. */
  provider?: string;
  model?: string;
  labels?: (string | { label: string; description?: string; [key: string]: unknown })[];
  instructions?: string;
  temperature?: number;
  [key: string]: unknown;
}

export interface MergeNodeData {
  label?: string;
  mode?: 'all' | 'first';
  template?: TemplateText;
  [key: string]: unknown;
}

export interface LoopNodeData {
  label?: string;
  maxIterations: number;
  exitCondition?: Condition;
  template?: TemplateText;
  [key: string]: unknown;
}

export interface MapNodeData {
  label?: string;
  itemsFormat?: 'lines' | 'separator' | 'json';
  separator?: string;
  concurrency?: number;
  maxItems?: number;
  collect?: 'join' | 'json';
  joinSeparator?: string;
  [key: string]: unknown;
}

/** Node type -> its data. */
export interface NodeDataByType {
  input: InputNodeData;
  output: OutputNodeData;
  llm: LlmNodeData;
  transform: TransformNodeData;
  router: RouterNodeData;
  merge: MergeNodeData;
  loop: LoopNodeData;
  map: MapNodeData;
}

/** A node whose data is typed by its kind (assignable to WorkflowNode). */
export type TypedWorkflowNode<T extends NodeType = NodeType> = T extends NodeType
  ? { id: string; type: T; position: { x: number; y: number }; data: NodeDataByType[T]; parentId?: string; [key: string]: unknown }
  : never;

export interface WorkflowNode {
  id: string;
  type: NodeType | (string & {});
  position: { x: number; y: number };
  data: Record<string, unknown>;
  parentId?: string;
  [key: string]: unknown;
}

export interface WorkflowEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
  [key: string]: unknown;
}

/** The document (what the editor saves and Workflow.fromJSON reads). */
export interface WorkflowDocument {
  id?: string;
  name?: string;
  description?: string;
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  [key: string]: unknown;
}

export interface Problem {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  nodeId?: string;
  edgeId?: string;
  field?: string;
}

/** A parsed workflow. Its id/name/nodes/edges are the document's (the seed's Workflow shape). */
export declare class Workflow {
  private constructor();
  /** Reads a document (object or JSON text); throws WorkflowValidationError if it is unusable. */
  static fromJSON(document: WorkflowDocument | string): Workflow;
  /** Reads a document from a file. */
  static fromFile(path: string): Workflow;
  /** Every problem at once; [] when none. With a client, provider ids are checked against it. */
  validate(options?: { client?: Client }): Problem[];
  /** The document exactly as read. */
  toJSON(): WorkflowDocument;
  toString(pretty?: boolean): string;
  readonly id: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly nodes: WorkflowNode[];
  readonly edges: WorkflowEdge[];
}

// ---------------------------------------------------------------------------------------------
// Runs

export type NodeStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export type RunStatus = 'succeeded' | 'failed' | 'cancelled' | 'budget_exceeded';

/** An error as it appears in results and events. */
export interface ErrorInfo {
  kind: ErrorKind;
  message: string;
  provider?: string;
  status?: number;
  requestId?: string;
  vendorCode?: string;
  retryAfterMs?: number;
  nodeId?: string;
}

export interface NodeResult {
  status: NodeStatus;
  output: string;
  usage: Usage;
  cost: number | null;
  latencyMs: number;
  attempts: number;
  error: ErrorInfo | null;
  provider: string;
  model: string;
  iterations: number;
}

/** The outcome of a run: the same JSON as `chorus run --json`. */
export interface RunResult {
  status: RunStatus;
  runId: string;
  output: string;
  nodes: Record<string, NodeResult>;
  usage: Usage;
  cost: number | null;
  wallTimeMs: number;
  error: ErrorInfo | null;
}

export type RunEventType =
  | 'run_started' | 'node_started' | 'token' | 'node_retry' | 'node_finished' | 'node_failed'
  | 'node_skipped' | 'run_finished';

/** One event of a run (docs/events.md); fields that do not apply are absent. */
export interface RunEvent {
  type: RunEventType;
  runId: string;
  seq: number;
  timeMs: number;
  nodeId?: string;
  nodeType?: string;
  text?: string;
  attempt?: number;
  iteration?: number;
  item?: number;
  provider?: string;
  model?: string;
  delayMs?: number;
  status?: string;
  error?: ErrorInfo | null;
  result?: NodeResult | RunResult;
}

export interface RunOptions {
  /** Defaults to defaultClient(). Custom providers are looked up in it. */
  client?: Client;
  /** Called with each event, in order, on the event loop. Throwing stops the run. */
  onEvent?: (event: RunEvent) => void;
  /** Emit `token` events for LLM nodes (default true). */
  streamTokens?: boolean;
  signal?: AbortSignal;
  maxCostUsd?: number;
  maxTokens?: number;
  maxConcurrency?: number;
  providerConcurrency?: Record<string, number>;
  /** Provider id -> API key for this run. Never logged. */
  apiKeys?: Record<string, string>;
  runId?: string;
  /** Reject when the run does not succeed (default true); false resolves with the result. */
  throwOnFailure?: boolean;
}

export declare function run(workflow: Workflow | WorkflowDocument | string, input?: string,
                            options?: RunOptions): Promise<RunResult>;

export declare class RunStream implements AsyncIterableIterator<RunEvent> {
  private constructor();
  /** The RunResult, as run() gives it (rejects on failure unless throwOnFailure is false). */
  readonly result: Promise<RunResult>;
  next(): Promise<IteratorResult<RunEvent, undefined>>;
  return(): Promise<IteratorResult<RunEvent, undefined>>;
  [Symbol.asyncIterator](): RunStream;
}

export declare function runStream(workflow: Workflow | WorkflowDocument | string, input?: string,
                                  options?: Omit<RunOptions, 'onEvent'>): RunStream;

// ---------------------------------------------------------------------------------------------
// Client

export declare class ChatStream implements AsyncIterableIterator<StreamDelta> {
  private constructor();
  /** The assembled response with usage and cost. */
  readonly response: Promise<LLMResponse>;
  next(): Promise<IteratorResult<StreamDelta, undefined>>;
  return(): Promise<IteratorResult<StreamDelta, undefined>>;
  [Symbol.asyncIterator](): ChatStream;
}

export declare class Client {
  constructor(options?: ClientOptions);
  providers(): string[];
  models(provider: string): ModelInfo[];
  registerProvider(provider: LLMProvider): this;
  complete(request: ChatRequest, options?: CallOptions): Promise<LLMResponse>;
  stream(request: ChatRequest, options?: CallOptions): ChatStream;
}

export declare function defaultClient(): Client;
export declare function setDefaultClient(client: Client): void;
export declare function nativeStats(): {
  wakeups: number;
  deliveries: number;
  started: boolean;
  /** Calls, streams and runs started and not yet finished. */
  inFlight: number;
};
export declare const version: string;

// ---------------------------------------------------------------------------------------------
// Errors

export type ErrorKind =
  | 'rate_limited' | 'auth' | 'quota_exceeded' | 'overloaded' | 'context_length'
  | 'content_filter' | 'bad_request' | 'server' | 'protocol' | 'timeout' | 'cancelled'
  | 'connect_failed' | 'tls_failed' | 'connection_closed' | 'invalid_argument'
  | 'invalid_workflow' | 'unknown_provider' | 'unknown_model' | 'budget_exceeded'
  | 'node_failed' | 'not_found';

export interface ChorusErrorDetails {
  code?: ErrorKind | string;
  status?: number;
  provider?: string;
  retryAfterMs?: number | null;
  requestId?: string;
  vendorCode?: string;
  nodeId?: string;
  cause?: unknown;
}

export declare class ChorusError extends Error {
  constructor(message: string, details?: ChorusErrorDetails);
  /** The chorus::errc name: "rate_limited", "auth", ... */
  readonly code: ErrorKind | string;
  /** HTTP status; 0 when none. */
  readonly status: number;
  readonly provider: string;
  /** The server's retry-after hint, when it gave one. */
  readonly retryAfterMs: number | null;
  readonly requestId: string;
  readonly vendorCode: string;
  readonly nodeId: string;
  /** run()/runStream(): the complete RunResult of the failed run. */
  readonly result?: RunResult;
  /** complete()/stream(): what arrived before the failure. */
  readonly response?: LLMResponse;
  /** WorkflowValidationError: every problem. */
  readonly problems?: Problem[];
}
export declare class RateLimitError extends ChorusError {}
export declare class AuthError extends ChorusError {}
export declare class QuotaExceededError extends ChorusError {}
export declare class OverloadedError extends ChorusError {}
export declare class ContextLengthError extends ChorusError {}
export declare class ContentFilterError extends ChorusError {}
export declare class BadRequestError extends ChorusError {}
export declare class ServerError extends ChorusError {}
export declare class ProtocolError extends ChorusError {}
export declare class TimeoutError extends ChorusError {}
export declare class CancelledError extends ChorusError {}
export declare class ConnectError extends ChorusError {}
export declare class TLSError extends ChorusError {}
export declare class ConnectionClosedError extends ChorusError {}
export declare class InvalidArgumentError extends ChorusError {}
export declare class WorkflowValidationError extends ChorusError {}
export declare class UnknownProviderError extends ChorusError {}
export declare class UnknownModelError extends ChorusError {}
export declare class BudgetExceededError extends ChorusError {}
export declare class NodeFailedError extends ChorusError {}
export declare class NotFoundError extends ChorusError {}

/** The ChorusError subclass of an ErrorInfo (from a result or an event). */
export declare function errorFromJSON(error: ErrorInfo): ChorusError;
