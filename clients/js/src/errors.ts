// Errors the SDK reports, and what each WebSocket close code means for reconnecting.

/** A failure reported by the gateway or the SDK. `code` is a close code (4xxx, 1xxx) for a
 *  connection that ended, or a gRPC status code number (3 invalid, 7 forbidden, 8 rate
 *  limited, 14 unavailable, ...) for a failed command. */
export class HeraldError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'HeraldError';
  }
}

/** Close codes of the gateway (4000 + the matching HTTP status). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  tooBig: 1009,
  /** A temporary failure (the gateway's engine is unreachable): reconnect later. */
  tryAgainLater: 1013,
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  slowConsumer: 4408,
  rateLimited: 4429,
} as const;

/** gRPC status code numbers used in publish and subscribe answers. */
export const StatusCode = {
  invalidArgument: 3,
  permissionDenied: 7,
  resourceExhausted: 8,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** True when a connection closed with `code` is not reconnected with the same credentials:
 *  4401 and 4403, and the application's own codes 3500-3999 (an operator's Admin.Disconnect
 *  may send them). 3000-3499 are the application's codes worth reconnecting after. */
export function isFinalClose(code: number): boolean {
  return code === CloseCode.unauthorized || code === CloseCode.forbidden ||
    (code >= 3500 && code <= 3999);
}

/** The reason a refused request gives: the `message` of the gateway's JSON error, or a short
 *  plain-text body; anything else (a proxy's HTML page, an empty body) is named by its status. */
export function refusalReason(body: string, status: number): string {
  const fallback = `HTTP ${status}`;
  try {
    const parsed: unknown = JSON.parse(body);
    const message = parsed && typeof parsed === 'object' ? (parsed as { message?: unknown }).message : undefined;
    return typeof message === 'string' && message !== '' ? message.slice(0, 300) : fallback;
  } catch {
    // Not JSON.
  }
  const text = body.trim();
  return text === '' || text.startsWith('<') || text.length > 300 ? fallback : text;
}

/** The close code an HTTP status of a refused SSE request or WebSocket upgrade stands for. */
export function closeCodeOfHttpStatus(status: number): number {
  if (status === 401 || status === 403 || status === 429 || status === 400) return 4000 + status;
  return CloseCode.abnormal;
}
