import { describe, expect, it } from 'vitest';
import { normalizeUsage } from '../src/usage';

describe('usage normalisation', () => {
  it('aggregates flat rows per day, provider, model and workflow', () => {
    const v = normalizeUsage({
      rows: [
        { date: '2026-11-24T10:00:00Z', provider: 'simulated', model: 'sim', workflowName: 'A', cost: 0.5, totalTokens: 10 },
        { date: '2026-11-25T10:00:00Z', provider: 'simulated', model: 'sim', workflowName: 'B', cost: 0.25, usage: { promptTokens: 2, completionTokens: 3 } },
        { date: '2026-11-25T11:00:00Z', provider: 'openai', model: 'gpt', workflowName: 'A', cost: 1, tokens: 7 },
      ],
    });
    expect(v.daily).toEqual([
      { name: '2026-11-24', cost: 0.5, tokens: 10 },
      { name: '2026-11-25', cost: 1.25, tokens: 12 },
    ]);
    expect(v.byProvider.map((p) => [p.name, p.cost, p.tokens])).toEqual([['openai', 1, 7], ['simulated', 0.75, 15]]);
    expect(v.byModel[0].name).toBe('openai/gpt');
    expect(v.byWorkflow.map((p) => p.name)).toEqual(['A', 'B']);
    expect(v.totals).toEqual({ cost: 1.75, tokens: 22 });
  });

  it('reads pre-aggregated series and totals', () => {
    const v = normalizeUsage({
      daily: [{ date: '2026-11-25', cost: 0.1, totalTokens: 5 }],
      byProvider: [{ provider: 'simulated', cost: 0.1, tokens: 5 }],
      byModel: [{ provider: 'simulated', model: 'sim', cost: 0.1, tokens: 5 }],
      byWorkflow: [{ workflowId: 'w1', workflowName: 'Mine', cost: 0.1, tokens: 5, executions: 2 }],
      totals: { cost: 0.1, totalTokens: 5, executions: 2 },
    });
    expect(v.daily).toEqual([{ name: '2026-11-25', cost: 0.1, tokens: 5 }]);
    expect(v.byModel[0].name).toBe('simulated/sim');
    expect(v.byWorkflow[0]).toEqual({ name: 'Mine', cost: 0.1, tokens: 5, executions: 2 });
    expect(v.totals).toEqual({ cost: 0.1, tokens: 5, executions: 2 });
  });

  it('an empty answer gives empty series', () => {
    expect(normalizeUsage({})).toEqual({ daily: [], byProvider: [], byModel: [], byWorkflow: [], totals: { cost: 0, tokens: 0 } });
  });
});

describe('usage from chorus-server', () => {
  it('reads byDay/byModel/byWorkflow and derives the provider breakdown', () => {
    const v = normalizeUsage({
      from: '2026-10-27',
      to: '2026-11-25',
      totals: { calls: 3, promptTokens: 30, completionTokens: 12, totalTokens: 42, cost: 0.003 },
      byDay: [{ day: '2026-11-25', calls: 3, totalTokens: 42, cost: 0.003 }],
      byModel: [
        { provider: 'simulated', model: 'sim-fast', totalTokens: 40, cost: 0.002 },
        { provider: 'simulated', model: 'sim-smart', totalTokens: 2, cost: 0.001 },
      ],
      byWorkflow: [{ workflowId: 'w1', workflowName: null, totalTokens: 42, cost: 0.003 }],
    });
    expect(v.daily.length).toBe(30);
    expect(v.daily[0]).toEqual({ name: '2026-10-27', cost: 0, tokens: 0 });
    expect(v.daily[29]).toEqual({ name: '2026-11-25', cost: 0.003, tokens: 42 });
    expect(v.byProvider).toEqual([{ name: 'simulated', cost: 0.003, tokens: 42 }]);
    expect(v.byModel.map((p) => p.name)).toEqual(['simulated/sim-fast', 'simulated/sim-smart']);
    expect(v.byWorkflow[0].name).toBe('w1');
    expect(v.totals).toEqual({ cost: 0.003, tokens: 42, executions: undefined });
  });
});
