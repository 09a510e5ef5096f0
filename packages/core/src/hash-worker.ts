import { Worker } from 'node:worker_threads';
import type { Hasher } from './checksum.js';
import type { Checksum, ChecksumAlgorithm } from './types.js';

/** The worker's code: hashes the batches it is sent and hands each buffer back for reuse. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hashes = [];
parentPort.on('message', (message) => {
  if (message.type === 'start') {
    hashes = message.algorithms.map((algorithm) => [algorithm, createHash(algorithm)]);
  } else if (message.type === 'data') {
    const bytes = new Uint8Array(message.buffer, 0, message.length);
    for (const [, hash] of hashes) hash.update(bytes);
    parentPort.postMessage({ type: 'ack', buffer: message.buffer }, [message.buffer]);
  } else if (message.type === 'digest') {
    parentPort.postMessage({ type: 'digests', digests: hashes.map(([algorithm, hash]) => [algorithm, hash.digest('hex')]) });
  }
});
`;

/** Options of {@link BackgroundHashers}. */
export interface BackgroundHashOptions {
  /** Bytes per batch sent to the worker. Default 1 MiB. */
  batchBytes?: number;
  /** Batches in flight at most; `update` waits when all are out. Default 8. */
  batches?: number;
}

/**
 * Digests computed on a worker thread, so that verifying a download uses another core instead of taking turns with the
 * network and the disk on the main thread. Bytes are copied into a few reusable batches (memory stays bounded by
 * batchBytes x batches); `update` returns a promise only when the worker is behind.
 */
export class BackgroundHashers {
  readonly #worker: Worker;
  readonly #algorithms: readonly ChecksumAlgorithm[];
  readonly #batchBytes: number;
  readonly #free: ArrayBuffer[] = [];
  #current: Uint8Array | undefined;
  #filled = 0;
  #waiting: (() => void) | undefined;
  #digests: ((digests: Array<[ChecksumAlgorithm, string]>) => void) | undefined;
  #failure: Error | undefined;

  constructor(algorithms: readonly ChecksumAlgorithm[], options: BackgroundHashOptions = {}) {
    this.#algorithms = algorithms;
    this.#batchBytes = options.batchBytes ?? 1024 * 1024;
    for (let i = 0; i < (options.batches ?? 8); i++) this.#free.push(new ArrayBuffer(this.#batchBytes));
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on(
      'message',
      (message: { type: string; buffer?: ArrayBuffer; digests?: Array<[ChecksumAlgorithm, string]> }) => {
        if (message.type === 'ack' && message.buffer) {
          this.#free.push(message.buffer);
          this.#wake();
        } else if (message.type === 'digests' && message.digests) {
          this.#digests?.(message.digests);
        }
      },
    );
    this.#worker.on('error', (error) => {
      this.#failure = error;
      this.#wake();
    });
    this.#worker.postMessage({ type: 'start', algorithms });
  }

  /** The algorithms being computed. */
  get algorithms(): readonly ChecksumAlgorithm[] {
    return this.#algorithms;
  }

  /** Adds bytes; the returned promise, when there is one, holds the caller back until a batch is free. */
  update(chunk: Uint8Array): void | Promise<void> {
    if (this.#failure) throw this.#failure;
    let at = 0;
    while (at < chunk.byteLength) {
      if (!this.#current) {
        const buffer = this.#free.pop();
        if (!buffer) return this.#whenFree().then(() => this.update(chunk.subarray(at)));
        this.#current = new Uint8Array(buffer);
        this.#filled = 0;
      }
      const take = Math.min(chunk.byteLength - at, this.#batchBytes - this.#filled);
      this.#current.set(chunk.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === this.#batchBytes) this.#send();
    }
  }

  /** The digests of every byte added; ends the worker. */
  async digest(): Promise<Map<ChecksumAlgorithm, Checksum>> {
    try {
      if (this.#current && this.#filled > 0) this.#send();
      const digests = await new Promise<Array<[ChecksumAlgorithm, string]>>((resolve, reject) => {
        if (this.#failure) reject(this.#failure);
        this.#digests = resolve;
        this.#worker.once('error', reject);
        this.#worker.postMessage({ type: 'digest' });
      });
      return new Map(digests.map(([algorithm, value]) => [algorithm, { algorithm, value }]));
    } finally {
      await this.close();
    }
  }

  /** Stops the worker (digests are lost). */
  async close(): Promise<void> {
    this.#failure ??= new Error('the hashers were closed');
    this.#wake();
    await this.#worker.terminate();
  }

  #send(): void {
    const batch = this.#current as Uint8Array;
    this.#worker.postMessage({ type: 'data', buffer: batch.buffer, length: this.#filled }, [
      batch.buffer as ArrayBuffer,
    ]);
    this.#current = undefined;
    this.#filled = 0;
  }

  #whenFree(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting = () => (this.#failure ? reject(this.#failure) : resolve());
    });
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}

/** Digests on the calling thread, behind the same interface as {@link BackgroundHashers}. */
export class InlineHashers {
  readonly #hashers: Hasher[];

  constructor(hashers: Hasher[]) {
    this.#hashers = hashers;
  }

  /** The algorithms being computed. */
  get algorithms(): readonly ChecksumAlgorithm[] {
    return this.#hashers.map((hasher) => hasher.algorithm);
  }

  /** Adds bytes. */
  update(chunk: Uint8Array): void {
    for (const hasher of this.#hashers) hasher.update(chunk);
  }

  /** The digests of every byte added. */
  async digest(): Promise<Map<ChecksumAlgorithm, Checksum>> {
    return new Map(this.#hashers.map((hasher) => [hasher.algorithm, hasher.digest()]));
  }

  /** Nothing to stop. */
  async close(): Promise<void> {}
}
