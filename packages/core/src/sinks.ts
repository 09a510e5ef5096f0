import type { FileHandle } from 'node:fs/promises';
import type { ImageSink } from './transfer.js';

/** Options of {@link FileSink}. */
export interface FileSinkOptions {
  /** Bytes gathered before one positional write is issued. Default 2 MiB. */
  batchBytes?: number;
  /** Positional writes in flight at once; the transfer waits when all are busy. Default 4. */
  maxInFlight?: number;
  /**
   * Start flushing written data to disk in the background every this many bytes, so the final fsync has little left
   * to do and disk writeback overlaps the network. 0 turns it off. Default 64 MiB.
   */
  syncEveryBytes?: number;
}

/**
 * Writes a transfer into an open file with batched positional writes, several in flight while the network keeps
 * reading: several times faster than a write stream, with memory bounded by batchBytes x maxInFlight.
 */
export class FileSink implements ImageSink {
  readonly #file: FileHandle;
  readonly #batchBytes: number;
  readonly #maxInFlight: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #position = 0;
  #inFlight: Promise<void>[] = [];
  #failure: unknown;
  readonly #syncEveryBytes: number;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;

  constructor(file: FileHandle, options: FileSinkOptions = {}) {
    this.#file = file;
    this.#batchBytes = options.batchBytes ?? 2 * 1024 * 1024;
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.#syncEveryBytes = options.syncEveryBytes ?? 64 * 1024 * 1024;
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes < this.#batchBytes) return;
    this.#issue();
    if (this.#inFlight.length >= this.#maxInFlight) return this.#settleOldest();
  }

  /** Writes what is gathered and waits for every write; throws the first write error. */
  async flush(): Promise<void> {
    if (this.#pendingBytes > 0) this.#issue();
    while (this.#inFlight.length > 0) await this.#settleOldest();
    await this.#syncing;
    if (this.#failure !== undefined) throw this.#failure;
  }

  async reset(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    await Promise.allSettled([...this.#inFlight, this.#syncing]);
    this.#unsynced = 0;
    this.#inFlight = [];
    this.#failure = undefined;
    this.#position = 0;
    await this.#file.truncate(0);
  }

  #issue(): void {
    const chunks = this.#pending;
    const position = this.#position;
    this.#position += this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    const write = writeAll(this.#file, chunks, position).catch((error: unknown) => {
      this.#failure ??= error;
    });
    this.#inFlight.push(write);
    this.#unsynced += position === this.#position ? 0 : this.#position - position;
    if (this.#syncEveryBytes > 0 && this.#unsynced >= this.#syncEveryBytes && !this.#syncing) {
      this.#unsynced = 0;
      const settled = Promise.allSettled(this.#inFlight);
      this.#syncing = settled
        .then(() => this.#file.datasync())
        .catch((error: unknown) => {
          this.#failure ??= error;
        })
        .finally(() => {
          this.#syncing = undefined;
        });
    }
  }

  async #settleOldest(): Promise<void> {
    await this.#inFlight.shift();
    if (this.#failure !== undefined) throw this.#failure;
  }
}

async function writeAll(file: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, at);
    at += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
}

/** `chunks` without their first `count` bytes (after a short write). */
function dropBytes(chunks: Uint8Array[], count: number): Uint8Array[] {
  let left = count;
  let index = 0;
  while (index < chunks.length && left >= (chunks[index]?.byteLength ?? 0)) {
    left -= chunks[index]?.byteLength ?? 0;
    index += 1;
  }
  const rest = chunks.slice(index);
  if (left > 0 && rest[0]) rest[0] = rest[0].subarray(left);
  return rest;
}

/** A sink that writes into a Node writable stream, honouring its backpressure. */
export class StreamSink implements ImageSink {
  readonly #stream: NodeJS.WritableStream;
  #failure: unknown;
  readonly #onError = (error: unknown) => {
    this.#failure ??= error;
  };

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    stream.on('error', this.#onError);
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#stream.write(chunk)) return this.#drained();
  }

  /** Ends the stream (when `end`) and waits until it has flushed; detaches from it either way. */
  async finish(end: boolean): Promise<void> {
    try {
      if (this.#failure !== undefined) throw this.#failure;
      if (!end) return;
      await new Promise<void>((resolve, reject) => {
        const stream = this.#stream;
        const done = (error?: unknown) => {
          stream.off('finish', onFinish);
          stream.off('error', done);
          stream.off('close', onClose);
          if (error) reject(error);
          else resolve();
        };
        const onFinish = () => done();
        const onClose = () => done(new Error('the stream closed before it finished writing'));
        stream.once('finish', onFinish);
        stream.once('error', done);
        stream.once('close', onClose);
        stream.end();
      });
    } finally {
      this.#stream.off('error', this.#onError);
    }
  }

  /** Destroys the stream after a failed transfer (as `pipeline` does) and detaches from it. */
  abandon(error: unknown, destroy: boolean): void {
    this.#stream.off('error', this.#onError);
    const stream = this.#stream as NodeJS.WritableStream & { destroy?: (error?: Error) => void };
    if (destroy) {
      stream.once('error', () => {});
      stream.destroy?.(error instanceof Error ? error : undefined);
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.#stream;
      const settle = (error?: unknown) => {
        stream.off('drain', onDrain);
        stream.off('error', settle);
        stream.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = () => settle(new Error('the stream closed while the image was being written'));
      stream.once('drain', onDrain);
      stream.once('error', settle);
      stream.once('close', onClose);
    });
  }
}
