import { abortedError, nextOrAbort, throwIfAborted } from './abort.js';
import { createHasher, formatChecksum, normalizeChecksum } from './checksum.js';
import { ImageChecksumError, ImageDownloadFailed, isImageServiceError } from './errors.js';
import { BackgroundHashers, InlineHashers } from './hash-worker.js';
import { fetchInParallel, type ParallelOptions, parallelPolicy } from './parallel.js';
import { backoffDelay, isTransientError, retryPolicy, waitFor } from './retry.js';
import type { Checksum, ChecksumAlgorithm, DownloadOptions, DownloadResult } from './types.js';

/** A byte range of an image, as the core asks a driver to open it. */
export interface ReadRequest {
  /** The first byte wanted. */
  offset: number;
  /** How many bytes are wanted from `offset`; undefined: up to the end of the image. */
  length?: number;
  /**
   * The `validator` of the stream the transfer started with. When set, the driver must return bytes of that same version
   * of the image, or throw (with `mustRestart` when starting over could work).
   */
  validator?: string;
  /** Fires when this read must stop: the caller aborted, or the body stalled. The driver must heed it. */
  signal: AbortSignal;
}

/** An opened byte range of an image. */
export interface ImageStream {
  /** Exactly the requested bytes, in order. An empty chunk carries no bytes but counts as activity for the idle timeout. */
  body: AsyncIterable<Uint8Array>;
  /** The whole image's size, when known. */
  size: number | null;
  /** Identifies this version of the image (a strong ETag, a Last-Modified date), so a resume can be pinned to it. */
  validator?: string;
  /** The digest the store publishes for the whole image; verified unless `verifyStoreChecksum` is false. */
  checksum?: Checksum;
  /** Whether the store serves byte ranges of this image, so the core may fetch parts of it in parallel. */
  rangesSupported?: boolean;
}

/** Where a transfer writes the bytes, in order. */
export interface ImageSink {
  /** Takes the next chunk; a returned promise holds the transfer back until the sink is ready for more. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Discards everything written, so a transfer can start over from byte 0; absent when the sink cannot. */
  reset?(): Promise<void>;
}

/** What {@link transfer} needs: how to open a range, where to write, and what is worth retrying. */
export interface TransferParams {
  /** The href, for error messages (shown redacted). */
  imageHref: string;
  /** Opens a byte range of the image. */
  open: (request: ReadRequest) => Promise<ImageStream>;
  /** Where the bytes go. */
  sink: ImageSink;
  /** The caller's download options. */
  options?: DownloadOptions;
  /** Whether a failure may be retried; defaults to {@link isTransientError}. */
  isTransient?: (error: unknown) => boolean;
  /** The driver's parallel settings, used unless the caller's `parallel` option says otherwise. Default off. */
  parallel?: ParallelOptions | false;
}

/** The default idle timeout: the reference's single 60 s timeout. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

const STALLED = Symbol('stalled');

/** Images from this size on are hashed on a worker thread (its start-up is not worth it for smaller ones). */
const BACKGROUND_HASH_THRESHOLD = 16 * 1024 * 1024;

/**
 * Streams an image into a sink: opens it through the driver, writes with backpressure, counts, hashes and verifies,
 * reports progress, stops on a stalled body, and resumes (or, when the sink can, restarts) after transient failures.
 * Every failure is an image-service error; on the caller's abort it is `ImageOperationAborted`.
 */
export async function transfer(params: TransferParams): Promise<DownloadResult> {
  const { imageHref, open, sink } = params;
  const options = params.options ?? {};
  const isTransient = params.isTransient ?? isTransientError;
  const signal = options.signal;
  throwIfAborted(signal, imageHref);
  const policy = retryPolicy(options.retry);
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const expected = options.checksum ? normalizeChecksum(options.checksum) : undefined;
  const verifyStore = options.verifyStoreChecksum !== false;
  const parallel = parallelPolicy(params.parallel ?? false, options.parallel);

  let offset = 0;
  let reported = -1;
  let total: number | null | undefined;
  let validator: string | undefined;
  let storeChecksum: Checksum | undefined;
  let hashing: InlineHashers | BackgroundHashers | undefined;
  let failures = 0;
  let retries = 0;

  const report = (bytes: number) => {
    if (bytes > reported) {
      reported = bytes;
      options.onProgress?.({ bytes, total: total ?? null });
    }
  };
  const startHashers = async () => {
    await hashing?.close();
    const algorithms = new Set<ChecksumAlgorithm>();
    for (const algorithm of [
      expected?.algorithm,
      options.computeChecksum,
      verifyStore ? storeChecksum?.algorithm : undefined,
    ]) {
      if (algorithm) algorithms.add(algorithm);
    }
    if (algorithms.size === 0) {
      hashing = undefined;
    } else if (total !== null && total !== undefined && total >= BACKGROUND_HASH_THRESHOLD) {
      for (const algorithm of algorithms) createHasher(algorithm);
      hashing = new BackgroundHashers([...algorithms]);
    } else {
      hashing = new InlineHashers([...algorithms].map(createHasher));
    }
  };

  const consume = async (chunk: Uint8Array) => {
    if (total !== null && total !== undefined && offset + chunk.byteLength > total) {
      throw new ImageDownloadFailed({
        imageHref,
        reason: `the server sent more than the image's ${total} bytes`,
      });
    }
    const hashed = hashing?.update(chunk);
    if (hashed) await hashed;
    try {
      await sink.write(chunk);
    } catch (error) {
      throw writeFailed(imageHref, error);
    }
    offset += chunk.byteLength;
    // Only bytes past the furthest ever reached refill the retry budget: bytes downloaded again after a restart do
    // not, or a store that breaks every attempt at the same byte would be retried for ever.
    if (offset > reported) failures = 0;
    report(offset);
  };

  try {
    for (;;) {
      const attempt = new AbortController();
      const onAbort = () => attempt.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let idle: NodeJS.Timeout | undefined;
      try {
        const stream = await open({ offset, validator, signal: attempt.signal });
        if (total === undefined) {
          total = stream.size;
          validator = stream.validator;
          storeChecksum = stream.checksum ? normalizeChecksum(stream.checksum) : undefined;
          await startHashers();
          report(0);
        } else if (stream.size !== null && total !== null && stream.size !== total) {
          throw new ImageDownloadFailed({
            imageHref,
            reason: `the image changed during the download: its size was ${total} bytes and is now ${stream.size}`,
            mustRestart: true,
            transient: true,
          });
        }
        if (
          parallel &&
          offset === 0 &&
          stream.rangesSupported &&
          total !== null &&
          total >= parallel.threshold
        ) {
          await fetchInParallel({
            imageHref,
            open,
            first: stream,
            total,
            validator,
            policy: parallel,
            retry: policy,
            idleTimeoutMs,
            isTransient,
            signal: attempt.signal,
            consume,
          });
          break;
        }
        if (idleTimeoutMs > 0) {
          idle = setTimeout(() => attempt.abort(STALLED), idleTimeoutMs);
          idle.unref?.();
        }
        const iterator = stream.body[Symbol.asyncIterator]();
        try {
          for (;;) {
            const next = await nextOrAbort(iterator, attempt.signal);
            if (next.done) break;
            idle?.refresh();
            if (next.value.byteLength === 0) continue;
            await consume(next.value);
          }
        } finally {
          iterator.return?.()?.catch?.(() => {});
        }
        if (total !== null && offset < total) {
          throw new ImageDownloadFailed({
            imageHref,
            reason: `the connection closed after ${offset} of ${total} bytes`,
            transient: true,
          });
        }
        break;
      } catch (caught) {
        if (signal?.aborted) throw abortedError(signal, imageHref);
        const error =
          attempt.signal.reason === STALLED
            ? new ImageDownloadFailed({
                imageHref,
                reason: `no data arrived for ${idleTimeoutMs} ms after ${offset} bytes`,
                transient: true,
              })
            : caught;
        failures += 1;
        if (!isTransient(error) || failures > policy.retries) throw asDownloadFailed(imageHref, error);
        const restart = isImageServiceError(error) && error.mustRestart;
        if (restart) {
          if (!sink.reset) throw asDownloadFailed(imageHref, error);
          await sink.reset();
          offset = 0;
          total = undefined;
          validator = undefined;
        }
        retries += 1;
        await waitFor(
          backoffDelay(failures, policy, isImageServiceError(error) ? error.retryAfterMs : undefined),
          signal,
          imageHref,
        );
      } finally {
        if (idle) clearTimeout(idle);
        signal?.removeEventListener('abort', onAbort);
      }
    }
    const digests = (await hashing?.digest()) ?? new Map<ChecksumAlgorithm, Checksum>();
    hashing = undefined;
    return finish(
      imageHref,
      offset,
      digests,
      expected,
      verifyStore ? storeChecksum : undefined,
      options,
      retries,
    );
  } finally {
    await hashing?.close();
  }
}

function finish(
  imageHref: string,
  bytes: number,
  digests: Map<ChecksumAlgorithm, Checksum>,
  expected: Checksum | undefined,
  storeChecksum: Checksum | undefined,
  options: DownloadOptions,
  retries: number,
): DownloadResult {
  for (const [wanted, whose] of [
    [expected, 'the expected'],
    [storeChecksum, "the store's published"],
  ] as const) {
    if (!wanted) continue;
    const actual = digests.get(wanted.algorithm);
    if (actual && actual.value !== wanted.value) {
      throw new ImageChecksumError({
        imageHref,
        reason: `${whose} ${wanted.algorithm} digest is ${wanted.value} but the image's bytes give ${actual.value}`,
        expected: formatChecksum(wanted),
        actual: formatChecksum(actual),
      });
    }
  }
  const algorithm = expected?.algorithm ?? options.computeChecksum ?? storeChecksum?.algorithm;
  const checksum = algorithm ? digests.get(algorithm) : undefined;
  return checksum ? { bytes, checksum, retries } : { bytes, retries };
}

/** A write failure as the typed error, naming the system error. */
export function writeFailed(imageHref: string, error: unknown): ImageDownloadFailed {
  if (isImageServiceError(error)) return error as ImageDownloadFailed;
  const code = (error as { code?: unknown })?.code;
  const what = error instanceof Error ? error.message : String(error);
  return new ImageDownloadFailed({
    imageHref,
    reason: `writing the image failed${typeof code === 'string' ? ` (${code})` : ''}: ${what}`,
    cause: error,
  });
}

/** Any failure as an image-service error: typed errors pass through, others become `ImageDownloadFailed`. */
export function asDownloadFailed(imageHref: string, error: unknown): Error {
  if (isImageServiceError(error)) return error;
  const what = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  return new ImageDownloadFailed({
    imageHref,
    reason: `${what}${typeof code === 'string' && !what.includes(code) ? ` (${code})` : ''}`,
    cause: error,
  });
}
