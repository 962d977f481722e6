// Per-kind schema of node data. The config panel is generated from these field lists, the
// palette from KIND_INFO, and new nodes start from defaultData().
import pricing from '../../../data/pricing.json';
import type { DataKey, NodeData, NodeDataByKind, NodeKind } from './types';

export type FieldType =
  | 'text'
  | 'textarea'
  | 'prompt'
  | 'number'
  | 'slider'
  | 'boolean'
  | 'select'
  | 'provider'
  | 'model'
  | 'stringList'
  | 'routes'
  | 'condition'
  | 'fallbacks';

export interface FieldSpec {
  key: string;
  label: string;
  type: FieldType;
  help?: string;
  min?: number;
  max?: number;
  step?: number;
  options?: string[];
  placeholder?: string;
  /** Shown only when this predicate holds on the node data. */
  when?: (data: NodeData) => boolean;
}

export interface KindInfo {
  kind: NodeKind;
  title: string;
  description: string;
  color: string; // tailwind border/accent colour class
  fields: FieldSpec[];
}


const when = (key: string, ...values: unknown[]) => (d: NodeData) => values.includes(d[key] ?? values[0]);

/** KIND_INFO's shape, checked against the schema: each field a kind's panel edits is one the
 * schema declares for that kind (src/generated/workflow.ts). */
type CheckedKindInfo = { [K in NodeKind]: Omit<KindInfo, 'kind' | 'fields'> & { kind: K; fields: (FieldSpec & { key: DataKey<K> })[] } };

export const KIND_INFO: Record<NodeKind, KindInfo> = {
  input: {
    kind: 'input',
    title: 'Input',
    description: 'The workflow input',
    color: 'border-emerald-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'defaultValue', label: 'Default value (used when the run input is empty)', type: 'textarea' },
    ],
  },
  output: {
    kind: 'output',
    title: 'Output',
    description: 'The workflow result',
    color: 'border-sky-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'template', label: 'Output template (default {{input}})', type: 'prompt' },
    ],
  },
  llm: {
    kind: 'llm',
    title: 'LLM',
    description: 'Call a model',
    color: 'border-indigo-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'provider', label: 'Provider', type: 'provider' },
      { key: 'model', label: 'Model', type: 'model' },
      { key: 'systemPrompt', label: 'System prompt', type: 'prompt' },
      { key: 'prompt', label: 'Prompt', type: 'prompt', help: 'Type {{ to insert an upstream value' },
      { key: 'temperature', label: 'Temperature', type: 'slider', min: 0, max: 2, step: 0.05 },
      { key: 'maxTokens', label: 'Max tokens', type: 'slider', min: 16, max: 8192, step: 16 },
      { key: 'stop', label: 'Stop sequences (one per line)', type: 'stringList' },
      { key: 'jsonMode', label: 'JSON mode', type: 'boolean' },
      { key: 'timeoutMs', label: 'Timeout (ms)', type: 'number', min: 1, step: 1000 },
      { key: 'retries', label: 'Retries', type: 'number', min: 0, max: 10, step: 1 },
      { key: 'fallbacks', label: 'Fallback models', type: 'fallbacks' },
      { key: 'onError', label: 'On error', type: 'select', options: ['fail', 'continue', 'branch'] },
      { key: 'defaultOutput', label: 'Default output on error', type: 'text', when: when('onError', 'continue') },
    ],
  },
  transform: {
    kind: 'transform',
    title: 'Transform',
    description: 'Reshape text, no model call',
    color: 'border-amber-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'op', label: 'Operation', type: 'select', options: ['template', 'json_extract', 'regex_extract', 'split', 'join', 'trim', 'uppercase', 'lowercase', 'truncate'] },
      { key: 'template', label: 'Template', type: 'prompt', when: when('op', 'template') },
      { key: 'path', label: 'JSON path (e.g. $.items[0].name)', type: 'text', when: when('op', 'json_extract') },
      { key: 'pattern', label: 'Regex pattern', type: 'text', when: when('op', 'regex_extract') },
      { key: 'group', label: 'Capture group', type: 'number', min: 0, step: 1, when: when('op', 'regex_extract') },
      { key: 'separator', label: 'Separator', type: 'text', when: when('op', 'split', 'join') },
      { key: 'maxTokens', label: 'Max tokens', type: 'number', min: 1, step: 1, when: when('op', 'truncate') },
    ],
  },
  router: {
    kind: 'router',
    title: 'Router',
    description: 'Pick a branch by condition or by a model',
    color: 'border-fuchsia-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'mode', label: 'Mode', type: 'select', options: ['condition', 'classify'] },
      { key: 'routes', label: 'Routes (first match wins)', type: 'routes', when: when('mode', 'condition') },
      { key: 'labels', label: 'Labels (one per line)', type: 'stringList', when: when('mode', 'classify') },
      { key: 'provider', label: 'Provider', type: 'provider', when: when('mode', 'classify') },
      { key: 'model', label: 'Model', type: 'model', when: when('mode', 'classify') },
      { key: 'instructions', label: 'Instructions', type: 'textarea', when: when('mode', 'classify') },
      { key: 'defaultRoute', label: 'Default route', type: 'text' },
    ],
  },
  merge: {
    kind: 'merge',
    title: 'Merge',
    description: 'Join parallel branches',
    color: 'border-teal-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'mode', label: 'Wait for', type: 'select', options: ['all', 'first'] },
      { key: 'template', label: 'Template (default: inputs joined)', type: 'prompt' },
    ],
  },
  loop: {
    kind: 'loop',
    title: 'Loop',
    description: 'Repeat a branch, bounded',
    color: 'border-orange-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'maxIterations', label: 'Max iterations', type: 'number', min: 1, max: 100, step: 1 },
      { key: 'exitCondition', label: 'Exit early when', type: 'condition' },
      { key: 'template', label: 'Output template', type: 'prompt' },
    ],
  },
  map: {
    kind: 'map',
    title: 'Map',
    description: 'Run a sub-graph per item',
    color: 'border-lime-500',
    fields: [
      { key: 'label', label: 'Label', type: 'text' },
      { key: 'itemsFormat', label: 'Items format', type: 'select', options: ['lines', 'separator', 'json'] },
      { key: 'separator', label: 'Item separator', type: 'text', when: when('itemsFormat', 'separator') },
      { key: 'concurrency', label: 'Concurrency', type: 'number', min: 1, max: 64, step: 1 },
      { key: 'maxItems', label: 'Max items', type: 'number', min: 1, step: 1 },
      { key: 'collect', label: 'Collect as', type: 'select', options: ['join', 'json'] },
      { key: 'joinSeparator', label: 'Join separator', type: 'text', when: when('collect', 'join') },
    ],
  },
} satisfies CheckedKindInfo;

export const CONDITION_OPS = ['contains', 'equals', 'regex', 'starts_with', 'json_field'];

export function defaultData(kind: NodeKind, provider?: string): NodeData {
  switch (kind) {
    case 'llm':
      return {
        provider: provider ?? 'simulated',
        model: defaultModel(provider ?? 'simulated'),
        systemPrompt: '',
        prompt: '{{input}}',
        temperature: 0.7,
        maxTokens: 512,
      } satisfies NodeDataByKind['llm'];
    case 'router':
      return { mode: 'condition', routes: [{ label: 'yes', op: 'contains', value: 'yes' }], defaultRoute: 'no' } satisfies NodeDataByKind['router'];
    case 'merge':
      return { mode: 'all' } satisfies NodeDataByKind['merge'];
    case 'loop':
      return { maxIterations: 3 } satisfies NodeDataByKind['loop'];
    case 'map':
      return { itemsFormat: 'lines', concurrency: 4 } satisfies NodeDataByKind['map'];
    case 'transform':
      return { op: 'template', template: '{{input}}' } satisfies NodeDataByKind['transform'];
    default:
      return {};
  }
}

export interface ModelInfo {
  provider: string;
  id: string;
  /** USD per million tokens. */
  inputPrice?: number;
  outputPrice?: number;
  contextWindow?: number;
}

/** The repository's price table (data/pricing.json, USD per 1M tokens), bundled at build time:
 * the model picker's fallback when GET /api/models fails. */
export const FALLBACK_MODELS: ModelInfo[] = Object.entries(pricing.models as Record<string, { vendor: string; input?: number; output?: number; context_window?: number }>).map(
  ([id, m]) => ({ provider: m.vendor, id, inputPrice: m.input, outputPrice: m.output, contextWindow: m.context_window }),
);

export const PROVIDERS = ['simulated', 'openai', 'anthropic', 'gemini', 'deepseek', 'openai-compatible'];

export function defaultModel(provider: string, models: ModelInfo[] = FALLBACK_MODELS): string {
  return models.find((m) => m.provider === provider)?.id ?? '';
}

/** Named source handles a node exposes (router labels, loop continue/exit, llm error branch). */
export function sourceHandles(kind: string, data: NodeData): string[] {
  if (kind === 'router') {
    const out: string[] = [];
    const push = (l: unknown) => {
      const s = typeof l === 'string' ? l : l && typeof l === 'object' ? String((l as { label?: unknown }).label ?? '') : '';
      if (s && !out.includes(s)) out.push(s);
    };
    if ((data.mode ?? 'condition') === 'classify') (Array.isArray(data.labels) ? data.labels : []).forEach(push);
    else (Array.isArray(data.routes) ? data.routes : []).forEach(push);
    push(data.defaultRoute);
    return out;
  }
  if (kind === 'loop') return ['continue', 'exit'];
  if (kind === 'llm' && data.onError === 'branch') return ['error'];
  return [];
}

/** Whether the node has its unnamed (default) source handle. */
export function hasDefaultSource(kind: string): boolean {
  return kind !== 'output' && kind !== 'router' && kind !== 'loop';
}

export function hasTargetHandle(kind: string): boolean {
  return kind !== 'input';
}
