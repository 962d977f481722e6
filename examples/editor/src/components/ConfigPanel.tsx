// The configuration panel of the selected node, generated from its kind's field list.
import { useId } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { CONDITION_OPS, KIND_INFO, defaultModel, type FieldSpec } from '../nodeKinds';
import { useGraph, type FlowNode } from '../store/graph';
import { priceLabel, useModels } from '../store/models';
import { templateVariables } from '../template';
import type { NodeData, NodeKind } from '../types';
import { Button } from '../ui';
import { PromptField } from './PromptField';

const input = 'w-full rounded border border-slate-300 px-1.5 py-1 text-sm focus:border-indigo-500 focus:outline-none';

function Labeled({ label, children, id }: { label: string; id: string; children: React.ReactNode }) {
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-xs font-medium text-slate-600">
        {label}
      </label>
      {children}
    </div>
  );
}

interface Cond {
  op?: string;
  value?: string;
  path?: string;
  ignoreCase?: boolean;
}

function ConditionEditor({ value, onChange, label }: { value: Cond | undefined; onChange: (c: Cond | undefined) => void; label: string }) {
  const id = useId();
  const c = value ?? {};
  return (
    <fieldset className="flex flex-wrap items-center gap-1 rounded border border-slate-200 p-1">
      <legend className="px-1 text-[11px] text-slate-500">{label}</legend>
      <select aria-label={`${label} operator`} className="rounded border border-slate-300 text-xs" value={c.op ?? ''} onChange={(e) => onChange(e.target.value ? { ...c, op: e.target.value } : undefined)}>
        <option value="">(none)</option>
        {CONDITION_OPS.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
      {c.op === 'json_field' && <input aria-label={`${label} JSON path`} placeholder="$.field" className="w-20 rounded border border-slate-300 px-1 text-xs" value={c.path ?? ''} onChange={(e) => onChange({ ...c, path: e.target.value })} />}
      {c.op && <input aria-label={`${label} value`} placeholder="value" className="min-w-0 flex-1 rounded border border-slate-300 px-1 text-xs" value={c.value ?? ''} onChange={(e) => onChange({ ...c, value: e.target.value })} />}
      {c.op && c.op !== 'json_field' && (
        <label htmlFor={id} className="flex items-center gap-1 text-[11px]">
          <input id={id} type="checkbox" checked={!!c.ignoreCase} onChange={(e) => onChange({ ...c, ignoreCase: e.target.checked || undefined })} />
          ignore case
        </label>
      )}
    </fieldset>
  );
}

function Field({ f, node, set }: { f: FieldSpec; node: FlowNode; set: (patch: NodeData) => void }) {
  const id = useId();
  const d = node.data;
  const v = d[f.key];
  const { models, providers } = useModels();
  const edges = useGraph((s) => s.edges);
  switch (f.type) {
    case 'text':
      return (
        <Labeled label={f.label} id={id}>
          <input id={id} className={input} value={typeof v === 'string' ? v : v == null ? '' : String(v)} onChange={(e) => set({ [f.key]: e.target.value === '' ? undefined : e.target.value })} />
        </Labeled>
      );
    case 'textarea':
      return (
        <Labeled label={f.label} id={id}>
          <textarea id={id} rows={3} className={input} value={typeof v === 'string' ? v : ''} onChange={(e) => set({ [f.key]: e.target.value === '' ? undefined : e.target.value })} />
        </Labeled>
      );
    case 'prompt':
      return <PromptField label={f.label} value={typeof v === 'string' ? v : ''} variables={templateVariables(node.id, edges)} onChange={(t) => set({ [f.key]: t === '' && f.key !== 'prompt' ? undefined : t })} />;
    case 'number':
      return (
        <Labeled label={f.label} id={id}>
          <input
            id={id}
            type="number"
            className={input}
            min={f.min}
            max={f.max}
            step={f.step}
            value={typeof v === 'number' ? v : ''}
            onChange={(e) => set({ [f.key]: e.target.value === '' ? undefined : Number(e.target.value) })}
          />
        </Labeled>
      );
    case 'slider':
      return (
        <Labeled label={`${f.label}: ${typeof v === 'number' ? v : 'default'}`} id={id}>
          <div className="flex items-center gap-2">
            <input id={id} type="range" className="flex-1" min={f.min} max={f.max} step={f.step} value={typeof v === 'number' ? v : (f.min ?? 0)} onChange={(e) => set({ [f.key]: Number(e.target.value) })} />
            <input aria-label={`${f.label} value`} type="number" className="w-20 rounded border border-slate-300 px-1 text-xs" min={f.min} max={f.max} step={f.step} value={typeof v === 'number' ? v : ''} onChange={(e) => set({ [f.key]: e.target.value === '' ? undefined : Number(e.target.value) })} />
          </div>
        </Labeled>
      );
    case 'boolean':
      return (
        <label htmlFor={id} className="flex items-center gap-2 text-sm">
          <input id={id} type="checkbox" checked={v === true} onChange={(e) => set({ [f.key]: e.target.checked || undefined })} />
          {f.label}
        </label>
      );
    case 'select':
      return (
        <Labeled label={f.label} id={id}>
          <select id={id} className={input} value={typeof v === 'string' ? v : (f.options?.[0] ?? '')} onChange={(e) => set({ [f.key]: e.target.value })}>
            {f.options?.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </Labeled>
      );
    case 'provider':
      return (
        <Labeled label={f.label} id={id}>
          <select id={id} className={input} value={typeof v === 'string' ? v : ''} onChange={(e) => set({ provider: e.target.value, model: defaultModel(e.target.value, models) || d.model })}>
            {!providers.includes(String(v ?? '')) && <option value={String(v ?? '')}>{String(v ?? '(choose)')}</option>}
            {providers.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </Labeled>
      );
    case 'model': {
      const list = models.filter((m) => m.provider === d.provider);
      return (
        <Labeled label={f.label} id={id}>
          <input id={id} className={input} list={`${id}-models`} value={typeof v === 'string' ? v : ''} onChange={(e) => set({ model: e.target.value })} />
          <datalist id={`${id}-models`}>
            {list.map((m) => (
              <option key={m.id} value={m.id}>
                {priceLabel(m)}
              </option>
            ))}
          </datalist>
          {(() => {
            const m = list.find((x) => x.id === v);
            return m && (m.inputPrice != null || m.outputPrice != null) ? (
              <p className="mt-0.5 text-[11px] text-slate-500">
                ${m.inputPrice ?? '?'} in / ${m.outputPrice ?? '?'} out per 1M tokens
              </p>
            ) : null;
          })()}
        </Labeled>
      );
    }
    case 'stringList':
      return (
        <Labeled label={f.label} id={id}>
          <textarea
            id={id}
            rows={2}
            className={input}
            value={Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : String((x as { label?: unknown }).label ?? ''))).join('\n') : ''}
            onChange={(e) => {
              const items = e.target.value.split('\n');
              set({ [f.key]: items.length === 1 && items[0] === '' ? undefined : items });
            }}
            onBlur={(e) => {
              const items = e.target.value.split('\n').filter((x) => x.trim() !== '');
              set({ [f.key]: items.length ? items : undefined });
            }}
          />
        </Labeled>
      );
    case 'condition':
      return <ConditionEditor label={f.label} value={v as Cond | undefined} onChange={(c) => set({ [f.key]: c })} />;
    case 'routes': {
      // A route is flat: {label, op, value, path?, ignoreCase?} (the library's format).
      const routes = Array.isArray(v) ? (v as ({ label?: string } & Cond)[]) : [];
      const put = (next: typeof routes) => set({ routes: next });
      return (
        <div className="space-y-1">
          <div className="text-xs font-medium text-slate-600">{f.label}</div>
          {routes.map((r, i) => (
            <div key={i} className="space-y-1 rounded border border-slate-200 p-1">
              <div className="flex gap-1">
                <input aria-label={`Route ${i + 1} label`} className="min-w-0 flex-1 rounded border border-slate-300 px-1 text-xs" value={r.label ?? ''} onChange={(e) => put(routes.map((x, k) => (k === i ? { ...x, label: e.target.value } : x)))} />
                <Button variant="ghost" className="!px-1 !py-0 text-xs" aria-label={`Remove route ${i + 1}`} onClick={() => put(routes.filter((_, k) => k !== i))}>
                  ✕
                </Button>
              </div>
              <ConditionEditor label={`Route ${i + 1} condition`} value={r} onChange={(c) => put(routes.map((x, k) => (k === i ? { ...x, op: c?.op ?? 'contains', value: c?.value, path: c?.path, ignoreCase: c?.ignoreCase } : x)))} />
            </div>
          ))}
          <Button className="text-xs" onClick={() => put([...routes, { label: `route${routes.length + 1}`, op: 'contains', value: '' }])}>
            Add route
          </Button>
        </div>
      );
    }
    case 'fallbacks': {
      const fb = Array.isArray(v) ? (v as { provider?: string; model?: string }[]) : [];
      const put = (next: typeof fb) => set({ fallbacks: next.length ? next : undefined });
      return (
        <div className="space-y-1">
          <div className="text-xs font-medium text-slate-600">{f.label}</div>
          {fb.map((r, i) => (
            <div key={i} className="flex gap-1">
              <select aria-label={`Fallback ${i + 1} provider`} className="rounded border border-slate-300 text-xs" value={r.provider ?? ''} onChange={(e) => put(fb.map((x, k) => (k === i ? { provider: e.target.value, model: defaultModel(e.target.value, models) } : x)))}>
                {providers.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
              <input aria-label={`Fallback ${i + 1} model`} className="min-w-0 flex-1 rounded border border-slate-300 px-1 text-xs" value={r.model ?? ''} onChange={(e) => put(fb.map((x, k) => (k === i ? { ...x, model: e.target.value } : x)))} />
              <Button variant="ghost" className="!px-1 !py-0 text-xs" aria-label={`Remove fallback ${i + 1}`} onClick={() => put(fb.filter((_, k) => k !== i))}>
                ✕
              </Button>
            </div>
          ))}
          <Button className="text-xs" onClick={() => put([...fb, { provider: 'simulated', model: defaultModel('simulated', models) }])}>
            Add fallback
          </Button>
        </div>
      );
    }
  }
}

export function ConfigPanel() {
  const selected = useGraph(useShallow((s) => s.nodes.filter((n) => n.selected)));
  const update = useGraph((s) => s.updateNodeData);
  const readOnly = useGraph((s) => s.readOnly);
  if (selected.length === 0) return <p className="p-3 text-sm text-slate-500">Select a node to configure it.</p>;
  if (selected.length > 1) return <p className="p-3 text-sm text-slate-500">{selected.length} nodes selected (Ctrl+C to copy, Delete to remove).</p>;
  const node = selected[0];
  const info = KIND_INFO[node.type as NodeKind];
  if (!info) return <p className="p-3 text-sm">Unknown node type “{node.type}”: kept as is.</p>;
  return (
    <form aria-label={`Configure ${node.id}`} className="space-y-3 p-3" onSubmit={(e) => e.preventDefault()}>
      <h2 className="text-sm font-semibold">
        {info.title} <span className="font-mono text-xs text-slate-500">{node.id}</span>
      </h2>
      <fieldset disabled={readOnly} className="space-y-3">
        {info.fields
          .filter((f) => !f.when || f.when(node.data))
          .map((f) => (
            <Field key={f.key} f={f} node={node} set={(patch) => update(node.id, patch)} />
          ))}
      </fieldset>
    </form>
  );
}
