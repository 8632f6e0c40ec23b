/**
 * A token bucket per connection: `ratePerSec` messages a second on average, bursts of up to
 * `burst`. Pure: the caller passes the clock.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /**
   * Takes one token. 'ok' when there was one; 'limited' when not; 'abusive' when the client
   * kept sending while limited until it owes a whole burst (it ignores the failure replies, so
   * the connection should go).
   */
  take(now: number): 'ok' | 'limited' | 'abusive' {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.ratePerSec);
    this.#updatedAt = now;
    this.#tokens -= 1;
    if (this.#tokens >= 0) return 'ok';
    return this.#tokens < -this.burst ? 'abusive' : 'limited';
  }
}
