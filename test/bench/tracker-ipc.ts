/**
 * Request/response calls between the tracker benchmark (test/bench/tracker.ts) and its child
 * processes, over Node's IPC channel. A child describes what it answers as an {@link Api} type
 * and serves it with {@link serveRpc}; the parent calls it through an {@link RpcClient}.
 */
import type { ChildProcess } from 'node:child_process';

/** Method name -> its parameters and result; both must survive `JSON.stringify`. */
export type Api = Record<string, { params: unknown; result: unknown }>;

interface RpcRequest {
  rpcId: number;
  method: string;
  params: unknown;
}

interface RpcResponse {
  rpcId: number;
  result?: unknown;
  error?: string;
}

/** Sent once the child listens for calls: calls sent before that would be lost. */
interface ReadyNotice {
  ready: true;
}

type Handlers<A extends Api> = { [M in keyof A]: (params: A[M]['params']) => A[M]['result'] | Promise<A[M]['result']> };

/**
 * Answers the parent's calls, one handler per method. The process exits when the parent goes
 * away, even if the parent was killed with SIGKILL and could not kill it first.
 */
export function serveRpc<A extends Api>(handlers: Handlers<A>): void {
  const reply = (response: RpcResponse) => process.send?.(response);
  process.on('message', async (raw) => {
    const { rpcId, method, params } = raw as RpcRequest;
    try {
      const handler = handlers[method];
      if (handler === undefined) throw new Error(`no such method: ${method}`);
      reply({ rpcId, result: await handler(params) });
    } catch (err) {
      reply({ rpcId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true } satisfies ReadyNotice);
}

/** Calls a child's {@link serveRpc} methods; calls pending when the child exits are rejected. */
export class RpcClient<A extends Api> {
  /** Resolves when the child serves calls; rejects if it exits first. */
  readonly ready: Promise<void>;
  readonly #pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();
  #nextId = 0;

  constructor(
    readonly child: ChildProcess,
    private readonly name: string,
  ) {
    this.ready = new Promise((resolve, reject) => {
      child.on('message', (raw) => {
        if ((raw as Partial<ReadyNotice>).ready === true) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code}) before serving calls`)));
    });
    // A child that dies early is reported by whoever awaits a call; `ready` must not go unhandled.
    this.ready.catch(() => {});
    child.on('message', (raw) => {
      if ((raw as Partial<ReadyNotice>).ready === true) return;
      const { rpcId, result, error } = raw as RpcResponse;
      const pending = this.#pending.get(rpcId);
      this.#pending.delete(rpcId);
      if (error !== undefined) pending?.reject(new Error(`${name}: ${error}`));
      else pending?.resolve(result);
    });
    child.on('exit', (code, signal) => {
      for (const { reject } of this.#pending.values()) reject(new Error(`${name} exited (${signal ?? code})`));
      this.#pending.clear();
    });
  }

  call<M extends keyof A & string>(method: M, params: A[M]['params']): Promise<A[M]['result']> {
    const rpcId = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`${this.name} is not running`));
        return;
      }
      this.#pending.set(rpcId, { resolve: resolve as (result: unknown) => void, reject });
      const request: RpcRequest = { rpcId, method, params };
      this.child.send(request);
    });
  }
}
