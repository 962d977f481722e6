// The model picker's store against a real local HTTP server (node:http on 127.0.0.1, port 0):
// the server's GET /api/models wins; the bundled table is the fallback when it fails.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setApiBase } from '../src/api';
import { FALLBACK_MODELS, PROVIDERS } from '../src/nodeKinds';
import { priceLabel, useModels } from '../src/store/models';

let server: Server;
let modelsStatus = 200;
let modelsBody: unknown = {};
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', providers: ['openai', 'simulated'] }));
      } else if (req.url === '/api/models') {
        hits++;
        res.writeHead(modelsStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify(modelsBody));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  setApiBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  useModels.setState({ models: FALLBACK_MODELS, providers: PROVIDERS, source: 'fallback', loaded: false });
  hits = 0;
});

// The mock health advertises no `features`: the store must not depend on it.
describe('models store', () => {
  it('loads the server list once and keeps it in the store', async () => {
    modelsStatus = 200;
    modelsBody = {
      items: [
        { provider: 'openai', id: 'gpt-x', inputPrice: 1.5, outputPrice: null, cachedInputPrice: 1.5, contextWindow: null, simulated: false },
        { provider: 'simulated', id: 'sim-1', inputPrice: 0, outputPrice: 0, cachedInputPrice: 0, contextWindow: 1000, simulated: true },
      ],
    };
    await useModels.getState().load();
    const s = useModels.getState();
    expect(s.source).toBe('server');
    expect(s.models.map((m) => `${m.provider}/${m.id}`)).toEqual(['openai/gpt-x', 'simulated/sim-1']);
    expect(s.models[0].inputPrice).toBe(1.5);
    expect(s.models[0].outputPrice).toBeUndefined(); // null = unknown
    expect(s.models[1].contextWindow).toBe(1000);
    expect(priceLabel(s.models[0])).toBe('gpt-x ($1.5 / $? per 1M tok)');
    expect(s.providers).toEqual(['simulated', 'openai']);
    await useModels.getState().load(); // cached: no second request
    expect(hits).toBe(1);
  });

  it('keeps the bundled table when /api/models fails', async () => {
    modelsStatus = 500;
    modelsBody = { error: { code: 'internal', message: 'boom' } };
    await useModels.getState().load();
    const s = useModels.getState();
    expect(hits).toBe(1);
    expect(s.source).toBe('fallback');
    expect(s.models).toBe(FALLBACK_MODELS);
    expect(s.providers).toEqual(['simulated', 'openai']); // health still applied
  });

  it('keeps the bundled table when the server lists nothing usable', async () => {
    modelsStatus = 200;
    modelsBody = { items: [{ provider: '', id: '' }] };
    await useModels.getState().load();
    expect(useModels.getState().source).toBe('fallback');
    expect(useModels.getState().models).toBe(FALLBACK_MODELS);
  });
});
