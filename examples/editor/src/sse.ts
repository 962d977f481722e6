// Server-Sent Events framing, sans-IO: feed text chunks (split anywhere), get whole messages.
// EventSource cannot POST, so the run panel reads the execute response body with fetch.

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  feed(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      let nl = -1;
      let skip = 1;
      for (let i = start; i < this.buf.length; i++) {
        const c = this.buf.charCodeAt(i);
        if (c === 10) {
          nl = i;
          break;
        }
        if (c === 13) {
          // A CR at the very end may be the first half of CRLF: wait for more bytes.
          if (i + 1 >= this.buf.length) break;
          nl = i;
          skip = this.buf.charCodeAt(i + 1) === 10 ? 2 : 1;
          break;
        }
      }
      if (nl < 0) break;
      this.line(this.buf.slice(start, nl), out);
      start = nl + skip;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]) {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }
}

/** Reads an SSE response body, calling onMessages with each batch parsed from one chunk. */
export async function readSse(body: ReadableStream<Uint8Array>, onMessages: (m: SseMessage[]) => void, signal?: AbortSignal): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const abort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', abort);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const msgs = parser.feed(decoder.decode(value, { stream: true }));
      if (msgs.length) onMessages(msgs);
    }
    // A last message without its blank line is still delivered (lenient with servers that close early).
    const tail = parser.feed(decoder.decode() + '\n\n');
    if (tail.length) onMessages(tail);
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
