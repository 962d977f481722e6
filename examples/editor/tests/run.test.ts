import { describe, expect, it } from 'vitest';
import { initialRun, reduceRunEvents, runFromExecution } from '../src/store/run';
import type { RunEvent } from '../src/types';

const events: RunEvent[] = [
  { type: 'run_started', executionId: 'x1' },
  { type: 'node_started', nodeId: 'in' },
  { type: 'node_finished', nodeId: 'in', result: { output: 'hi' } },
  { type: 'node_started', nodeId: 'a' },
  { type: 'token', nodeId: 'a', text: 'Hel' },
  { type: 'token', nodeId: 'a', text: 'lo' },
  { type: 'node_finished', nodeId: 'a', result: { output: 'Hello', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, cost: 0.0012, latencyMs: 40 } },
  { type: 'node_skipped', nodeId: 'b' },
  { type: 'run_finished', status: 'succeeded', output: 'Hello', durationMs: 55 },
];

describe('run event reducer', () => {
  it('streams tokens into the running node', () => {
    const s = reduceRunEvents(initialRun(['in', 'a', 'b', 'out']), events.slice(0, 6));
    expect(s.status).toBe('running');
    expect(s.executionId).toBe('x1');
    expect(s.nodes.a).toMatchObject({ status: 'running', text: 'Hello' });
    expect(s.nodes.out.status).toBe('pending');
  });

  it('records per-node results, totals and the final output', () => {
    const s = reduceRunEvents(initialRun(['in', 'a', 'b', 'out']), events);
    expect(s.status).toBe('succeeded');
    expect(s.nodes.a).toMatchObject({ status: 'done', output: 'Hello', cost: 0.0012, latencyMs: 40 });
    expect(s.nodes.b.status).toBe('skipped');
    expect(s.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5 });
    expect(s.cost).toBeCloseTo(0.0012, 10);
    expect(s.output).toBe('Hello');
    expect(s.durationMs).toBe(55);
  });

  it('run_finished totals win over the summed ones; snake_case usage is read', () => {
    const s = reduceRunEvents(initialRun(), [
      ...events.slice(0, 8),
      { type: 'run_finished', status: 'succeeded', usage: { prompt_tokens: 10, completion_tokens: 4 }, cost: 0.5 },
    ]);
    expect(s.usage).toEqual({ promptTokens: 10, completionTokens: 4, totalTokens: 14 });
    expect(s.cost).toBe(0.5);
  });

  it('a retry restarts the text and counts attempts; failure keeps the message', () => {
    const s = reduceRunEvents(initialRun(['a']), [
      { type: 'node_started', nodeId: 'a' },
      { type: 'token', nodeId: 'a', text: 'partial' },
      { type: 'node_retry', nodeId: 'a', error: { code: 'rate_limited', message: 'slow down' } },
      { type: 'token', nodeId: 'a', text: 'x' },
      { type: 'node_failed', nodeId: 'a', error: { code: 'timeout', message: 'took too long' } },
      { type: 'run_finished', status: 'failed', error: 'node a failed' },
    ]);
    expect(s.nodes.a).toMatchObject({ status: 'failed', text: 'x', attempts: 2, error: 'timeout: took too long' });
    expect(s.status).toBe('failed');
    expect(s.error).toBe('node a failed');
  });

  it('cancellation marks running nodes', () => {
    const s = reduceRunEvents(initialRun(['a']), [
      { type: 'node_started', nodeId: 'a' },
      { type: 'run_finished', status: 'cancelled' },
    ]);
    expect(s.status).toBe('cancelled');
    expect(s.nodes.a.status).toBe('failed');
  });

  it('ignores unknown event types and events without a node', () => {
    const s0 = initialRun(['a']);
    expect(reduceRunEvents(s0, [{ type: 'heartbeat' }, { type: 'token', text: 'x' }])).toEqual(s0);
  });

  it('replays a past execution from stored events or from node results', () => {
    const a = runFromExecution({ id: 7, events }, ['in', 'a', 'b', 'out']);
    expect(a.nodes.a.output).toBe('Hello');
    expect(a.executionId).toBe('7');
    const b = runFromExecution({
      id: 'r2',
      status: 'succeeded',
      output: 'Hello',
      cost: 0.002,
      nodeResults: { a: { status: 'succeeded', output: 'Hello', usage: { totalTokens: 5 } }, b: { status: 'skipped' } },
    });
    expect(b.status).toBe('succeeded');
    expect(b.nodes.a).toMatchObject({ status: 'done', output: 'Hello' });
    expect(b.nodes.b.status).toBe('skipped');
    expect(b.cost).toBe(0.002);
  });

  it('node results are cumulative: a loop node finishing twice is not counted twice', () => {
    const u = (t: number) => ({ promptTokens: t, completionTokens: t, totalTokens: 2 * t });
    const s = reduceRunEvents(initialRun(['w']), [
      { type: 'node_started', nodeId: 'w', iteration: 1 },
      { type: 'token', nodeId: 'w', text: 'one' },
      { type: 'node_finished', nodeId: 'w', result: { output: 'one', usage: u(5), cost: 0.01 } },
      { type: 'node_started', nodeId: 'w', iteration: 2 },
      { type: 'token', nodeId: 'w', text: 'two' },
      { type: 'node_finished', nodeId: 'w', result: { output: 'two', usage: u(12), cost: 0.03 } },
    ]);
    expect(s.nodes.w).toMatchObject({ status: 'done', output: 'two', iteration: 2, cost: 0.03 });
    expect(s.usage).toEqual(u(12));
    expect(s.cost).toBeCloseTo(0.03, 10);
  });

  it('map items stream side by side; the node is done when the last item is', () => {
    const s1 = reduceRunEvents(initialRun(['m']), [
      { type: 'node_started', nodeId: 'm', item: 0 },
      { type: 'node_started', nodeId: 'm', item: 1 },
      { type: 'token', nodeId: 'm', item: 0, text: 'a' },
      { type: 'token', nodeId: 'm', item: 1, text: 'x' },
      { type: 'token', nodeId: 'm', item: 0, text: 'b' },
    ]);
    expect(s1.nodes.m).toMatchObject({ status: 'running', text: 'ab', items: { 0: 'ab', 1: 'x' }, active: 2 });
    const s2 = reduceRunEvents(s1, [{ type: 'node_finished', nodeId: 'm', item: 0, result: { output: 'ab' } }]);
    expect(s2.nodes.m.status).toBe('running');
    const s3 = reduceRunEvents(s2, [{ type: 'node_finished', nodeId: 'm', item: 1, result: { output: 'ab\n\nx' } }]);
    expect(s3.nodes.m).toMatchObject({ status: 'done', output: 'ab\n\nx' });
  });

  it('a budget stop is its own status, with the reason', () => {
    const s = reduceRunEvents(initialRun(['a']), [
      { type: 'node_started', nodeId: 'a' },
      { type: 'node_failed', nodeId: 'a', status: 'cancelled', error: { kind: 'budget_exceeded', message: 'max cost reached' } },
      { type: 'run_finished', status: 'budget_exceeded', error: { kind: 'budget_exceeded', message: 'max cost reached' }, result: { wallTimeMs: 12.5 } },
    ]);
    expect(s.status).toBe('budget_exceeded');
    expect(s.error).toBe('budget_exceeded: max cost reached');
    expect(s.nodes.a).toMatchObject({ status: 'failed', error: 'budget_exceeded: max cost reached' });
    expect(s.durationMs).toBe(12.5);
  });
});
