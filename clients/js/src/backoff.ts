// Reconnect delays: capped exponential backoff with full jitter.

export interface BackoffOptions {
  /** First delay's upper bound, in ms (default 500). */
  minDelayMs?: number;
  /** Cap of the delay, in ms (default 20000). */
  maxDelayMs?: number;
  /** A connection that stays up this long resets the backoff, in ms (default 10000). */
  stableAfterMs?: number;
}

export class Backoff {
  private attempt = 0;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly stableAfterMs: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.minDelayMs = options.minDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 20000;
    this.stableAfterMs = options.stableAfterMs ?? 10000;
  }

  /** The delay before the next attempt: uniform in [0, min(max, min * 2^attempt)], at least
   *  `floorMs` (a rate-limited connection waits longer). */
  next(floorMs = 0): number {
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(floorMs, Math.floor(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
