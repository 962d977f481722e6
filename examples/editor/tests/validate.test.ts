import { describe, expect, it } from 'vitest';
import { issuesFromServer, validateLocal } from '../src/validate';
import type { WorkflowEdge, WorkflowNode } from '../src/types';

const n = (id: string, type: string, data: Record<string, unknown> = {}): WorkflowNode => ({ id, type, position: { x: 0, y: 0 }, data });
const e = (id: string, source: string, target: string, sourceHandle?: string): WorkflowEdge => ({ id, source, target, ...(sourceHandle ? { sourceHandle } : {}) });

describe('local validation', () => {
  it('accepts a simple valid workflow', () => {
    const nodes = [n('in', 'input'), n('a', 'llm', { provider: 'simulated', model: 'x', prompt: '{{input}}' }), n('out', 'output')];
    expect(validateLocal(nodes, [e('e1', 'in', 'a'), e('e2', 'a', 'out')])).toEqual([]);
  });

  it('names the node with a missing model and empty prompt', () => {
    const nodes = [n('in', 'input'), n('a', 'llm', { provider: 'openai', prompt: ' ' }), n('out', 'output')];
    const issues = validateLocal(nodes, [e('e1', 'in', 'a'), e('e2', 'a', 'out')]);
    expect(issues.map((i) => [i.nodeId, i.message])).toEqual([
      ['a', 'node "a": model is required'],
      ['a', 'node "a": prompt is empty'],
    ]);
  });

  it('flags edges to missing nodes and router edges on unknown routes', () => {
    const nodes = [n('in', 'input'), n('r', 'router', { routes: [{ label: 'yes' }] }), n('out', 'output')];
    const issues = validateLocal(nodes, [e('e1', 'in', 'r'), e('e2', 'r', 'out', 'maybe'), e('e3', 'r', 'ghost', 'yes')]);
    expect(issues.filter((i) => i.edgeId === 'e2')[0].message).toMatch(/"maybe" is not an output of router "r"/);
    expect(issues.filter((i) => i.edgeId === 'e3')[0].message).toMatch(/target "ghost" does not exist/);
  });

  it('a cycle needs a loop node', () => {
    const llm = { provider: 'simulated', model: 'x', prompt: 'p' };
    const nodes = [n('in', 'input'), n('a', 'llm', llm), n('b', 'llm', llm), n('out', 'output')];
    const edges = [e('1', 'in', 'a'), e('2', 'a', 'b'), e('3', 'b', 'a'), e('4', 'b', 'out')];
    expect(validateLocal(nodes, edges).map((i) => i.nodeId)).toEqual(['a', 'b']);
    const withLoop = [...nodes, n('l', 'loop', { maxIterations: 3 })];
    const loopEdges = [e('1', 'in', 'a'), e('2', 'a', 'l'), e('3', 'l', 'a', 'continue'), e('4', 'l', 'b', 'exit'), e('5', 'b', 'out')];
    expect(validateLocal(withLoop, loopEdges)).toEqual([]);
  });

  it('flags template references to unknown nodes', () => {
    const nodes = [n('in', 'input'), n('a', 'llm', { provider: 's', model: 'x', prompt: '{{nodes.nope.output}}' }), n('out', 'output')];
    expect(validateLocal(nodes, [e('1', 'in', 'a'), e('2', 'a', 'out')])[0].message).toBe('node "a": template refers to unknown node "nope"');
  });
});

describe('server issue mapping', () => {
  const nodes = [n('in', 'input'), n('a', 'llm')];
  const edges = [e('e1', 'in', 'a')];
  it('maps issue arrays with node and edge ids', () => {
    expect(issuesFromServer({ issues: [{ nodeId: 'a', message: 'bad model' }, { edgeId: 'e1', message: 'x' }] }, 'invalid', nodes, edges)).toEqual([
      { nodeId: 'a', edgeId: undefined, message: 'bad model', source: 'server' },
      { nodeId: undefined, edgeId: 'e1', message: 'x', source: 'server' },
    ]);
  });
  it('maps JSON paths to ids', () => {
    const out = issuesFromServer([{ path: '/nodes/1/data/model', message: 'm' }, { path: 'edges[0].source', message: 's' }], 'invalid', nodes, edges);
    expect(out.map((i) => [i.nodeId, i.edgeId])).toEqual([['a', undefined], [undefined, 'e1']]);
  });
  it('falls back to the error message', () => {
    expect(issuesFromServer(undefined, 'workflow is invalid', nodes, edges)).toEqual([{ message: 'workflow is invalid', source: 'server' }]);
  });
});
