import { describe, expect, it } from 'vitest';
import { completePlaceholder, openPlaceholder, templateVariables } from '../src/template';
import { layoutGraph } from '../src/layout';
import { listOf } from '../src/api';
import { FALLBACK_MODELS, defaultData, hasDefaultSource, sourceHandles } from '../src/nodeKinds';

describe('prompt autocompletion', () => {
  const edges = [
    { source: 'in', target: 'a' },
    { source: 'a', target: 'b' },
    { source: 'x', target: 'y' },
  ];
  it('offers input, workflow input and upstream node outputs, nearest first', () => {
    expect(templateVariables('b', edges)).toEqual(['input', 'workflow.input', 'nodes.a.output', 'nodes.in.output']);
  });
  it('finds an open placeholder and completes it', () => {
    expect(openPlaceholder('Say {{no', 8)).toEqual({ start: 6, prefix: 'no' });
    expect(openPlaceholder('Say {{a}} x', 11)).toBeNull();
    expect(completePlaceholder('Say {{no', 8, 'nodes.a.output')).toEqual({ text: 'Say {{nodes.a.output}}', caret: 22 });
    expect(completePlaceholder('Say {{}} now', 6, 'input')).toEqual({ text: 'Say {{input}} now', caret: 13 });
  });
});

describe('auto-layout', () => {
  it('orders a chain left to right without overlap', () => {
    const pos = layoutGraph([{ id: 'in' }, { id: 'a' }, { id: 'out' }], [
      { source: 'in', target: 'a' },
      { source: 'a', target: 'out' },
    ]);
    expect(pos.in.x).toBeLessThan(pos.a.x);
    expect(pos.a.x - pos.in.x).toBeGreaterThanOrEqual(220);
    expect(pos.a.x).toBeLessThan(pos.out.x);
  });
});

describe('list unwrapping', () => {
  it('accepts bare and wrapped lists', () => {
    expect(listOf([1])).toEqual([1]);
    expect(listOf({ workflows: [2] }, 'workflows')).toEqual([2]);
    expect(listOf({ items: [3] })).toEqual([3]);
    expect(listOf({ nope: 1 })).toEqual([]);
  });
});

describe('node kinds', () => {
  it('new llm nodes use a priced simulated model from data/pricing.json', () => {
    const d = defaultData('llm');
    expect(d.provider).toBe('simulated');
    const m = FALLBACK_MODELS.find((x) => x.provider === 'simulated' && x.id === d.model);
    expect(m?.inputPrice).toBeGreaterThan(0);
    expect(m?.outputPrice).toBeGreaterThan(0);
  });
  it('exposes the handles the library routes by', () => {
    expect(sourceHandles('router', { routes: [{ label: 'a', op: 'contains', value: 'x' }, { label: 'b' }], defaultRoute: 'c' })).toEqual(['a', 'b', 'c']);
    expect(sourceHandles('router', { mode: 'classify', labels: ['x', { label: 'y', description: 'why' }], routes: [{ label: 'ignored' }] })).toEqual(['x', 'y']);
    expect(sourceHandles('loop', {})).toEqual(['continue', 'exit']);
    expect(sourceHandles('llm', { onError: 'branch' })).toEqual(['error']);
    expect(sourceHandles('llm', {})).toEqual([]);
    expect(hasDefaultSource('router')).toBe(false);
    expect(hasDefaultSource('llm')).toBe(true);
    expect(hasDefaultSource('output')).toBe(false);
  });
});
