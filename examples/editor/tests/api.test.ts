// The REST client against a real local HTTP server (node:http on 127.0.0.1, port 0).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, auth, executeStream, setApiBase, setCsrfToken, workflows } from '../src/api';
import type { RunEvent } from '../src/types';

let server: Server;
const seen: { method: string; url: string; csrf?: string; body: string }[] = [];
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
const routes = new Map<string, Handler>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, csrf: req.headers['x-csrf-token'] as string | undefined, body });
      const h = routes.get(`${req.method} ${req.url}`);
      if (h) h(req, res, body);
      else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  setApiBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('api client', () => {
  it('keeps the CSRF token from login and sends it on writes only', async () => {
    setCsrfToken(null);
    routes.set('POST /api/auth/login', (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ user: { id: 'u1', email: 'a@b.c', tier: 'free' }, csrfToken: 'tok123' }));
    });
    routes.set('GET /api/user/profile', (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'u1', email: 'a@b.c' }));
    });
    const u = await auth.login('a@b.c', 'pw');
    expect(u).toEqual({ id: 'u1', email: 'a@b.c', tier: 'free' });
    await auth.profile();
    const login = seen.find((s) => s.url === '/api/auth/login')!;
    expect(login.csrf).toBeUndefined();
    expect(JSON.parse(login.body)).toEqual({ email: 'a@b.c', password: 'pw' });
    expect(seen.find((s) => s.url === '/api/user/profile')!.csrf).toBeUndefined();
    routes.set('POST /api/workflows', (_q, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      const b = JSON.parse(body);
      res.end(JSON.stringify({ id: 'w9', name: b.name, version: 1, configuration: b.configuration }));
    });
    const doc = await workflows.create({ name: 'N', nodes: [], edges: [], extra: 1 });
    expect(doc).toEqual({ name: 'N', nodes: [], edges: [], extra: 1, id: 'w9' });
    const post = seen.find((s) => s.url === '/api/workflows')!;
    expect(post.csrf).toBe('tok123');
    expect(JSON.parse(post.body)).toEqual({ name: 'N', description: '', configuration: { name: 'N', nodes: [], edges: [], extra: 1 } });
  });

  it('turns error bodies into ApiError with code, message and details', async () => {
    routes.set('PUT /api/workflows/w1', (_q, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'invalid_workflow', message: 'the workflow has 1 problem', details: { problems: [{ nodeId: 'a', message: 'bad' }] } } }));
    });
    const err = await workflows.update('w1', { name: 'x', nodes: [], edges: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_workflow', message: 'the workflow has 1 problem', details: { problems: [{ nodeId: 'a', message: 'bad' }] } });
    const nf = await workflows.get('nope').catch((e) => e);
    expect(nf).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('streams run events over SSE in chunks, with the execution id from the header', async () => {
    routes.set('POST /api/workflows/w1/execute', (req, res) => {
      expect(req.headers.accept).toBe('text/event-stream');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-execution-id': 'ex1' });
      const frames = [
        { type: 'run_started', runId: 'r1', seq: 0 },
        { type: 'token', nodeId: 'a', text: 'Hel' },
        { type: 'token', nodeId: 'a', text: 'lo' },
        { type: 'run_finished', status: 'succeeded', result: { output: 'Hello' } },
      ]
        .map((f, i) => `id: ${i}\ndata: ${JSON.stringify(f)}\n\n`)
        .join('');
      // Write in small pieces so frames are split across reads.
      let i = 0;
      const tick = () => {
        if (i >= frames.length) return res.end();
        res.write(frames.slice(i, i + 7));
        i += 7;
        setImmediate(tick);
      };
      tick();
    });
    const events: RunEvent[] = [];
    let exec = '';
    await executeStream('w1', 'hi', (e) => events.push(...e), undefined, (id) => (exec = id));
    expect(exec).toBe('ex1');
    expect(events.map((e) => e.type)).toEqual(['run_started', 'token', 'token', 'run_finished']);
    expect(JSON.parse(seen.find((s) => s.url === '/api/workflows/w1/execute')!.body)).toEqual({ input: 'hi' });
  });

  it('reports an unreachable server as a network error', async () => {
    setApiBase('http://127.0.0.1:1');
    const err = await workflows.list().catch((e) => e);
    expect(err).toMatchObject({ code: 'network' });
    setApiBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
});
