import { beforeEach, describe, expect, it } from 'vitest';
import { useGraph } from '../src/store/graph';
import type { WorkflowDocument } from '../src/types';

const g = () => useGraph.getState();

const doc: WorkflowDocument = {
  id: 'wf1',
  name: 'Three nodes',
  owner: 'someone', // unknown top-level field: must survive a round trip
  nodes: [
    { id: 'in', type: 'input', position: { x: 0, y: 0 }, data: {} },
    { id: 'draft', type: 'llm', position: { x: 200, y: 0 }, data: { provider: 'simulated', model: 'm', prompt: '{{input}}', custom: 7 }, extraNodeField: 'x' },
    { id: 'out', type: 'output', position: { x: 400, y: 0 }, data: {} },
  ],
  edges: [
    { id: 'e1', source: 'in', target: 'draft' },
    { id: 'e2', source: 'draft', target: 'out', label: 'kept' },
  ],
};

beforeEach(() => {
  g().load(structuredClone(doc));
  useGraph.setState({ clipboard: null });
});

describe('document round trip', () => {
  it('keeps unknown fields and strips React Flow runtime fields', () => {
    g().select(['draft']);
    g().onNodesChange([{ type: 'dimensions', id: 'draft', dimensions: { width: 200, height: 80 } }]);
    const out = g().toDocument();
    expect(out.owner).toBe('someone');
    const draft = out.nodes.find((n) => n.id === 'draft')!;
    expect(draft.extraNodeField).toBe('x');
    expect(draft.data.custom).toBe(7);
    expect('selected' in draft).toBe(false);
    expect('measured' in draft).toBe(false);
    expect(out.edges[1].label).toBe('kept');
    expect(out).toEqual(doc);
  });

  it('a loaded document is clean and valid', () => {
    expect(g().dirty).toBe(false);
    expect(g().localIssues).toEqual([]);
    expect(g().canUndo()).toBe(false);
  });
});

describe('undo / redo', () => {
  it('undoes and redoes adding a node', () => {
    const id = g().addNode('transform', { x: 10, y: 20 });
    expect(g().nodes.map((n) => n.id)).toContain(id);
    g().undo();
    expect(g().nodes.map((n) => n.id)).not.toContain(id);
    expect(g().canRedo()).toBe(true);
    g().redo();
    expect(g().nodes.find((n) => n.id === id)?.position).toEqual({ x: 10, y: 20 });
  });

  it('a new change clears the redo stack', () => {
    g().addNode('merge', { x: 0, y: 0 });
    g().undo();
    g().addNode('loop', { x: 0, y: 0 });
    expect(g().canRedo()).toBe(false);
  });

  it('a whole drag is one step', () => {
    g().onNodesChange([{ type: 'position', id: 'in', position: { x: 5, y: 5 }, dragging: true }]);
    g().onNodesChange([{ type: 'position', id: 'in', position: { x: 50, y: 50 }, dragging: true }]);
    g().onNodesChange([{ type: 'position', id: 'in', position: { x: 60, y: 70 }, dragging: false }]);
    expect(g().nodes[0].position).toEqual({ x: 60, y: 70 });
    expect(g().past.length).toBe(1);
    g().undo();
    expect(g().nodes[0].position).toEqual({ x: 0, y: 0 });
  });

  it('selection changes are not history steps', () => {
    g().onNodesChange([{ type: 'select', id: 'in', selected: true }]);
    expect(g().canUndo()).toBe(false);
  });

  it('editing node data undoes', () => {
    g().updateNodeData('draft', { temperature: 1.5 });
    expect(g().nodes[1].data.temperature).toBe(1.5);
    g().undo();
    expect(g().nodes[1].data.temperature).toBeUndefined();
    expect(g().nodes[1].data.custom).toBe(7);
  });

  it('deleting a node removes its edges, and undo restores both', () => {
    g().select(['draft']);
    g().deleteSelected();
    expect(g().nodes.map((n) => n.id)).toEqual(['in', 'out']);
    expect(g().edges).toEqual([]);
    g().undo();
    expect(g().edges.map((e) => e.id)).toEqual(['e1', 'e2']);
  });

  it('a read-only graph (template preview) cannot change', () => {
    g().load(structuredClone(doc), { readOnly: true });
    g().addNode('llm', { x: 0, y: 0 });
    g().onNodesChange([{ type: 'remove', id: 'in' }]);
    expect(g().nodes.length).toBe(3);
  });
});

describe('connect', () => {
  it('adds an edge with handles and refuses duplicates', () => {
    g().addNode('router', { x: 0, y: 0 });
    const id = g().connect({ source: 'router1', target: 'out', sourceHandle: 'yes', targetHandle: null });
    expect(id).toBe('e3');
    const e = g().edges.find((x) => x.id === id)!;
    expect(e.sourceHandle).toBe('yes');
    expect(g().connect({ source: 'router1', target: 'out', sourceHandle: 'yes', targetHandle: null })).toBeNull();
  });
});

describe('copy / paste', () => {
  it('copies selected nodes with the edges between them, under fresh ids', () => {
    g().select(['in', 'draft']);
    expect(g().copy()).toBe(2);
    const pasted = g().paste({ x: 100, y: 100 });
    expect(pasted).toEqual(['in_copy1', 'draft_copy1']);
    const copyEdge = g().edges.find((e) => e.source === 'in_copy1');
    expect(copyEdge?.target).toBe('draft_copy1');
    // Edge draft->out is not copied: out was not selected.
    expect(g().edges.filter((e) => e.source === 'draft_copy1')).toEqual([]);
    expect(g().nodes.find((n) => n.id === 'draft_copy1')?.position).toEqual({ x: 300, y: 100 });
    expect(g().nodes.find((n) => n.id === 'draft_copy1')?.data).toEqual(doc.nodes[1].data);
    // Only the pasted nodes are selected.
    expect(g().nodes.filter((n) => n.selected).map((n) => n.id)).toEqual(['in_copy1', 'draft_copy1']);
  });

  it('pasting twice gives new ids and moves further', () => {
    g().select(['draft']);
    g().copy();
    g().paste();
    const second = g().paste();
    expect(second).toEqual(['draft_copy2']);
    expect(g().nodes.find((n) => n.id === 'draft_copy2')?.position).toEqual({ x: 280, y: 80 });
  });

  it('changing the copy does not change the original', () => {
    g().select(['draft']);
    g().copy();
    const [id] = g().paste();
    g().updateNodeData(id, { prompt: 'changed' });
    expect(g().nodes.find((n) => n.id === 'draft')?.data.prompt).toBe('{{input}}');
  });

  it('paste is one undo step; cut removes', () => {
    g().select(['draft']);
    g().cut();
    expect(g().nodes.map((n) => n.id)).toEqual(['in', 'out']);
    g().paste();
    expect(g().nodes.length).toBe(3);
    g().undo();
    expect(g().nodes.length).toBe(2);
  });

  it('copies a map node with its body, keeping parentId inside the copy', () => {
    g().load({
      name: 'm',
      nodes: [
        { id: 'map1', type: 'map', position: { x: 0, y: 0 }, data: {} },
        { id: 'body', type: 'llm', position: { x: 10, y: 10 }, data: {}, parentId: 'map1' },
      ],
      edges: [],
    });
    g().select(['map1', 'body']);
    g().copy();
    g().paste();
    const body = g().nodes.find((n) => n.id === 'body_copy1')!;
    expect(body.parentId).toBe('map_copy1');
    expect(body.position).toEqual({ x: 10, y: 10 });
  });
});

describe('typing coalesces', () => {
  it('edits of one field in quick succession are one undo step; another field is a new step', () => {
    g().updateNodeData('draft', { prompt: 'a' });
    g().updateNodeData('draft', { prompt: 'ab' });
    g().updateNodeData('draft', { prompt: 'abc' });
    expect(g().past.length).toBe(1);
    g().updateNodeData('draft', { temperature: 0.1 });
    expect(g().past.length).toBe(2);
    g().undo();
    expect(g().nodes[1].data.prompt).toBe('abc');
    g().undo();
    expect(g().nodes[1].data.prompt).toBe('{{input}}');
  });
});

describe('map bodies', () => {
  it('a node added with a parent joins the map body; deleting the map deletes its body', () => {
    const map = g().addNode('map', { x: 0, y: 0 });
    const body = g().addNode('llm', { x: 20, y: 40 }, undefined, map);
    expect(g().nodes.find((n) => n.id === body)?.parentId).toBe(map);
    expect(g().toDocument().nodes.find((n) => n.id === body)?.parentId).toBe(map);
    g().select([map]);
    g().deleteSelected();
    expect(g().nodes.map((n) => n.id)).toEqual(['in', 'draft', 'out']);
  });
});
