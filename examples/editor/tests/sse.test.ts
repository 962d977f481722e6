import { describe, expect, it } from 'vitest';
import { SseParser, readSse } from '../src/sse';

const stream = 'event: run\r\ndata: {"type":"token",\r\ndata: "text":"a"}\r\n\r\n: keep-alive\n\ndata: {"type":"run_finished"}\nid: 9\n\n';

describe('SSE parser', () => {
  it('parses messages split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const p = new SseParser();
      const msgs = [...p.feed(stream.slice(0, cut)), ...p.feed(stream.slice(cut))];
      expect(msgs).toEqual([
        { event: 'run', data: '{"type":"token",\n"text":"a"}', id: undefined },
        { event: 'message', data: '{"type":"run_finished"}', id: '9' },
      ]);
    }
  });

  it('reads a byte stream (multi-byte UTF-8 split across chunks)', async () => {
    const bytes = new TextEncoder().encode('data: {"text":"héllo ✓"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const got: string[] = [];
    await readSse(body, (m) => got.push(...m.map((x) => x.data)));
    expect(got).toEqual(['{"text":"héllo ✓"}']);
  });
});
