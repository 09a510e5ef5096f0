import { nextOrAbort } from './abort.js';
import { ImageDownloadFailed } from './errors.js';
import { backoffDelay, type RetryPolicy, waitFor } from './retry.js';
import type { ImageStream, ReadRequest } from './transfer.js';

/** How a large image is fetched as byte ranges in parallel. */
export interface ParallelOptions {
  /** Bytes per ranged request. Default 8 MiB. */
  partSize?: number;
  /** Ranged requests in flight at once (and parts held in memory at most). Default 4. */
  concurrency?: number;
  /** Images smaller than this are fetched with one request. Default 32 MiB. */
  threshold?: number;
}

/** The parallel settings with every field set. */
export type ParallelPolicy = Required<ParallelOptions>;

/** The defaults: 8 MiB parts, 4 at once, for images of 32 MiB and more. */
export const DEFAULT_PARALLEL: ParallelPolicy = {
  partSize: 8 * 1024 * 1024,
  concurrency: 4,
  threshold: 32 * 1024 * 1024,
};

/** The parallel policy from a driver's defaults and the caller's options; undefined when parallel fetching is off. */
export function parallelPolicy(
  driverDefault: ParallelOptions | false,
  option: ParallelOptions | false | undefined,
): ParallelPolicy | undefined {
  if (option === false || (option === undefined && driverDefault === false)) return undefined;
  const policy = { ...DEFAULT_PARALLEL, ...(driverDefault || {}), ...(option || {}) };
  if (!Number.isSafeInteger(policy.partSize) || policy.partSize < 64 * 1024) {
    throw new TypeError('parallel.partSize must be a whole number of at least 64 KiB');
  }
  if (!Number.isSafeInteger(policy.concurrency) || policy.concurrency < 1) {
    throw new TypeError('parallel.concurrency must be a whole number of at least 1');
  }
  return policy.concurrency > 1 ? policy : undefined;
}

/** One byte range of the image and the chunks fetched for it, waiting to be written in order. */
class Part {
  readonly chunks: Uint8Array[] = [];
  done = false;
  failure: unknown;
  #wake: (() => void) | undefined;

  constructor(
    readonly start: number,
    readonly length: number,
  ) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.#notify();
  }

  finish(): void {
    this.done = true;
    this.#notify();
  }

  fail(error: unknown): void {
    this.failure = error;
    this.#notify();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** What {@link fetchInParallel} needs from the transfer. */
export interface ParallelFetch {
  imageHref: string;
  open: (request: ReadRequest) => Promise<ImageStream>;
  /** The stream the transfer opened first (a request for the whole image); it serves the first part. */
  first: ImageStream;
  total: number;
  validator: string | undefined;
  policy: ParallelPolicy;
  retry: RetryPolicy;
  idleTimeoutMs: number;
  isTransient: (error: unknown) => boolean;
  signal: AbortSignal | undefined;
  /** Writes the next bytes of the image, in order. */
  consume: (chunk: Uint8Array) => Promise<void>;
}

const STALLED = Symbol('stalled');

/**
 * Fetches the image as parts in parallel (the first from the already opened stream, the others as ranged reads pinned
 * to its validator) and hands the bytes to `consume` in order. At most `concurrency` parts are fetched or held at once,
 * so memory stays bounded by concurrency x partSize. A part that fails transiently is retried on its own from where
 * it stopped; a failure it cannot get past rejects (the transfer then resumes or restarts as it does for one stream).
 */
export async function fetchInParallel(fetch: ParallelFetch): Promise<void> {
  const { policy, total } = fetch;
  const parts: Part[] = [];
  for (let start = 0; start < total; start += policy.partSize) {
    parts.push(new Part(start, Math.min(policy.partSize, total - start)));
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(fetch.signal?.reason);
  fetch.signal?.addEventListener('abort', onAbort, { once: true });
  let started = 0;
  const startUpTo = (limit: number) => {
    while (started < parts.length && started < limit) {
      const part = parts[started] as Part;
      readPart(fetch, part, started === 0 ? fetch.first : undefined, controller.signal).then(
        () => part.finish(),
        (error: unknown) => part.fail(error),
      );
      started += 1;
    }
  };
  try {
    for (let index = 0; index < parts.length; index++) {
      startUpTo(index + policy.concurrency);
      const part = parts[index] as Part;
      for (;;) {
        const chunk = part.chunks.shift();
        if (chunk) {
          await fetch.consume(chunk);
        } else if (part.failure !== undefined) {
          throw part.failure;
        } else if (part.done) {
          break;
        } else {
          await part.changed();
        }
      }
    }
  } finally {
    controller.abort();
    fetch.signal?.removeEventListener('abort', onAbort);
  }
}

async function readPart(
  fetch: ParallelFetch,
  part: Part,
  opened: ImageStream | undefined,
  signal: AbortSignal,
) {
  let received = 0;
  let failures = 0;
  let stream = opened;
  for (;;) {
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    try {
      if (signal.aborted) throw signal.reason;
      const current =
        stream ??
        (await fetch.open({
          offset: part.start + received,
          length: part.length - received,
          validator: fetch.validator,
          signal: attempt.signal,
        }));
      stream = undefined;
      if (fetch.idleTimeoutMs > 0) {
        idle = setTimeout(() => attempt.abort(STALLED), fetch.idleTimeoutMs);
        idle.unref?.();
      }
      const iterator = current.body[Symbol.asyncIterator]();
      try {
        while (received < part.length) {
          const next = await nextOrAbort(iterator, attempt.signal);
          if (next.done) break;
          let chunk = next.value;
          idle?.refresh();
          if (chunk.byteLength === 0) continue;
          if (received + chunk.byteLength > part.length) chunk = chunk.subarray(0, part.length - received);
          part.push(chunk);
          received += chunk.byteLength;
          failures = 0;
        }
      } catch (error) {
        iterator.return?.()?.catch?.(() => {});
        throw error;
      }
      // Close this range before the next one may start, so at most `concurrency` are open; a body that does not
      // close within a second is left to close by itself.
      await closeWithin(iterator, 1000);
      if (received < part.length) {
        throw new ImageDownloadFailed({
          imageHref: fetch.imageHref,
          reason: `the range at ${part.start + received} closed after ${received} of ${part.length} bytes`,
          transient: true,
        });
      }
      return;
    } catch (caught) {
      if (signal.aborted) throw caught;
      const error =
        attempt.signal.reason === STALLED
          ? new ImageDownloadFailed({
              imageHref: fetch.imageHref,
              reason: `no data arrived for ${fetch.idleTimeoutMs} ms in the range at ${part.start + received}`,
              transient: true,
            })
          : caught;
      failures += 1;
      if (!fetch.isTransient(error) || failures > fetch.retry.retries) throw error;
      await waitFor(
        backoffDelay(failures, fetch.retry, (error as { retryAfterMs?: number }).retryAfterMs),
        signal,
      );
    } finally {
      if (idle) clearTimeout(idle);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

async function closeWithin(iterator: AsyncIterator<Uint8Array>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closing = Promise.resolve(iterator.return?.()).catch(() => {});
  await Promise.race([
    closing,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
