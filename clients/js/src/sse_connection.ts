// One Server-Sent Events stream from /sse, read with fetch so the SDK sees HTTP statuses, sends
// the token in a header, and receives events of every type.
import type { Connection, ConnectionListener, Position, SubscribeAnswer } from './connection.js';
import { CloseCode, HeraldError, closeCodeOfHttpStatus, refusalReason } from './errors.js';
import type { HeraldEvent } from './event.js';
import { bytesFromBase64 } from './event.js';

export interface SseOptions {
  /** The /sse URL without query. */
  url: string;
  token?: string;
  topics: Array<{ topic: string; position?: Position }>;
  fetch: typeof fetch;
  /** Silence (no event, no `: ping`) after which the stream counts as dead. */
  idleTimeoutMs: number;
}

interface SseFields {
  id?: string;
  event: string;
  data: string;
}

/** The resume token of the gateway: `<epoch>-<offset>` per topic, in the URL's topic order.
 *  A topic without a position (or of a topic that had no history yet) gets one that cannot
 *  match, so it starts live. */
export function resumeToken(topics: SseOptions['topics']): string | undefined {
  if (!topics.some((t) => t.position?.epoch)) return undefined;
  return topics
    .map((t) => (t.position?.epoch ? `${t.position.epoch}-${t.position.offset}` : 'new-0'))
    .join('.');
}

export function sseEventToHeraldEvent(json: Record<string, unknown>): HeraldEvent {
  const data = 'data_base64' in json ? bytesFromBase64(String(json.data_base64)) : json.data;
  return {
    topic: String(json.topic),
    offset: Number(json.offset ?? 0),
    epoch: String(json.epoch ?? ''),
    type: String(json.type ?? ''),
    data,
    contentType: String(json.content_type ?? ''),
    meta: (json.meta as Record<string, string>) ?? {},
    time: new Date(Number(json.time_unix_ms ?? 0)),
  };
}

export class SseConnection implements Connection {
  readonly transport = 'sse';
  private readonly abort = new AbortController();
  private opened = false;
  private closed = false;
  private idleTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly options: SseOptions,
    private readonly listener: ConnectionListener,
  ) {
    // Started after the constructor returns, so no callback comes before the owner has it.
    queueMicrotask(() => void this.run());
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopIdleTimer();
    this.abort.abort();
  }

  private async run(): Promise<void> {
    const query = new URLSearchParams();
    for (const { topic } of this.options.topics) query.append('topic', topic);
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    const resume = resumeToken(this.options.topics);
    if (resume) headers['Last-Event-ID'] = resume;
    this.restartIdleTimer();
    let response: Response;
    try {
      response = await this.options.fetch(`${this.options.url}?${query}`, {
        headers,
        signal: this.abort.signal,
        cache: 'no-store',
      });
    } catch {
      this.finish(CloseCode.abnormal, 'the gateway cannot be reached');
      return;
    }
    if (!response.ok || !response.body) {
      const reason = refusalReason(await response.text().catch(() => ''), response.status);
      this.finish(closeCodeOfHttpStatus(response.status), reason);
      return;
    }
    try {
      await this.read(response.body);
      this.finish(CloseCode.abnormal, 'the stream ended');
    } catch {
      this.finish(CloseCode.abnormal, 'the stream broke');
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let fields: SseFields = { event: '', data: '' };
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.closed) return;
      this.restartIdleTimer();
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (fields.data !== '' || fields.event !== '') this.dispatch(fields);
          fields = { event: '', data: '' };
          if (this.closed) return;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (name === 'data') fields.data += fields.data === '' ? value : `\n${value}`;
        else if (name === 'event') fields.event = value;
        else if (name === 'id') fields.id = value;
      }
    }
  }

  private dispatch(fields: SseFields): void {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(fields.data);
    } catch {
      this.listener.onError(new HeraldError(CloseCode.badRequest, 'malformed SSE data'));
      this.close(CloseCode.badRequest, 'malformed SSE data');
      return;
    }
    if (fields.event === 'herald.connected') {
      this.opened = true;
      const subscriptions = (json.subscriptions as Array<Record<string, unknown>>) ?? [];
      this.listener.onOpen(
        subscriptions.map(
          (s): SubscribeAnswer => ({
            topic: String(s.topic),
            epoch: String(s.epoch ?? ''),
            offset: Number(s.offset ?? 0),
            recovered: Boolean(s.recovered),
          }),
        ),
        String(json.client_id ?? ''),
      );
    } else if (fields.event === 'herald.disconnect') {
      const reconnectAfterMs = Number(json.reconnect_after_ms ?? 0);
      this.close(
        Number(json.code ?? CloseCode.goingAway),
        String(json.reason ?? ''),
        reconnectAfterMs > 0 ? reconnectAfterMs : undefined,
      );
    } else if (fields.event === 'herald.unsubscribed') {
      this.listener.onUnsubscribed(String(json.topic ?? ''));
    } else if (this.opened) {
      this.listener.onEvent(sseEventToHeraldEvent(json));
    }
  }

  private close(code: number, reason: string, reconnectAfterMs?: number): void {
    this.abort.abort();
    this.finish(code, reason, reconnectAfterMs);
  }

  private restartIdleTimer(): void {
    this.stopIdleTimer();
    if (this.closed) return;
    this.idleTimer = setTimeout(
      () => this.close(CloseCode.abnormal, 'the stream went silent'),
      this.options.idleTimeoutMs,
    );
  }

  private stopIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private finish(code: number, reason: string, reconnectAfterMs?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.stopIdleTimer();
    this.listener.onClose(code, reason, this.opened, reconnectAfterMs);
  }
}
