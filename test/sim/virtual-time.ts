/**
 * Virtual time for the swarm simulator: a seeded event queue that stands in for the clock,
 * `setTimeout` and `Math.random` of the process, so the SDK's own modules run unchanged on
 * simulated time, deterministically. Between events the microtask queue is drained, so promise
 * chains settle at the instant that started them, as on a real event loop.
 */
import { setImmediate as realSetImmediate } from 'node:timers';
import { seededRandom } from '../support/seeded-random.ts';

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap ordered by time, then by scheduling order (deterministic ties). */
class EventQueue {
  #heap: Scheduled[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(event: Scheduled): void {
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Scheduled, heap[parent] as Scheduled)) break;
      [heap[i], heap[parent]] = [heap[parent] as Scheduled, heap[i] as Scheduled];
      i = parent;
    }
  }

  peek(): Scheduled | undefined {
    return this.#heap[0];
  }

  pop(): Scheduled | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left] as Scheduled, heap[smallest] as Scheduled)) smallest = left;
        if (right < heap.length && before(heap[right] as Scheduled, heap[smallest] as Scheduled)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as Scheduled, heap[i] as Scheduled];
        i = smallest;
      }
    }
    return top;
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export class VirtualTime {
  /** Milliseconds since the simulation started. */
  now = 0;
  readonly random: () => number;
  readonly #queue = new EventQueue();
  #seq = 0;
  #handles = new Map<number, Scheduled>();
  #nextHandle = 1;
  events = 0;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  setTimeout(fn: () => void, ms = 0): number {
    const event: Scheduled = { at: this.now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#queue.push(event);
    const handle = this.#nextHandle++;
    this.#handles.set(handle, event);
    event.fn = () => {
      this.#handles.delete(handle);
      fn();
    };
    return handle;
  }

  clearTimeout(handle: unknown): void {
    const event = this.#handles.get(handle as number);
    if (event) {
      event.cancelled = true;
      this.#handles.delete(handle as number);
    }
  }

  /** Runs `fn` at absolute time `at` (ms). */
  at(at: number, fn: () => void): void {
    this.setTimeout(fn, at - this.now);
  }

  /** Replaces the process's clock, timers and randomness with this virtual time. */
  install(): void {
    const g = globalThis as any;
    g.setTimeout = (fn: () => void, ms?: number) => this.setTimeout(fn, ms);
    g.clearTimeout = (handle: unknown) => this.clearTimeout(handle);
    Object.defineProperty(globalThis, "performance", { value: { now: () => this.now }, configurable: true, writable: true });
    Math.random = this.random;
  }

  /** Processes events in time order until `untilMs`. */
  async run(untilMs: number): Promise<void> {
    for (;;) {
      const next = this.#queue.peek();
      if (!next || next.at > untilMs) break;
      this.#queue.pop();
      if (next.cancelled) continue;
      this.now = next.at;
      this.events++;
      next.fn();
      await new Promise((resolve) => realSetImmediate(resolve));
    }
    this.now = untilMs;
  }
}
