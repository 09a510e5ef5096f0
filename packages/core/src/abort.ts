import { ImageOperationAborted } from './errors.js';

/** Throws `ImageOperationAborted` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, imageHref?: string, secret?: boolean): void {
  if (signal?.aborted) throw abortedError(signal, imageHref, secret);
}

/** The error an operation ended by `signal` rejects with. */
export function abortedError(
  signal: AbortSignal,
  imageHref?: string,
  secret?: boolean,
): ImageOperationAborted {
  const reason = signal.reason;
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new ImageOperationAborted({
    imageHref,
    secret,
    reason: `the operation was aborted${detail}`,
    cause: reason,
  });
}

/**
 * Runs `operation` with a signal that fires when `signal` does, and rejects with `ImageOperationAborted` as soon as it
 * fires even if the operation does not heed its signal.
 */
export async function withAbort<T>(
  signal: AbortSignal | undefined,
  imageHref: string | undefined,
  operation: (signal: AbortSignal) => Promise<T>,
  secret?: boolean,
): Promise<T> {
  throwIfAborted(signal, imageHref, secret);
  const controller = new AbortController();
  if (!signal) return operation(controller.signal);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      controller.abort(signal.reason);
      reject(abortedError(signal, imageHref, secret));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([operation(controller.signal), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    aborted.catch(() => {});
  }
}

/**
 * The iterator's next result, or a rejection with `signal.reason` as soon as `signal` fires, even when the iterator does
 * not heed it. Nothing is left attached to `signal` afterwards (racing a long-lived promise instead would keep every
 * chunk reachable).
 */
export function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
