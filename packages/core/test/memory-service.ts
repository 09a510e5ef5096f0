import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  BaseImageService,
  type Checksum,
  ImageDownloadFailed,
  type ImageInfo,
  ImageNotFound,
  type ImageStream,
  type ReadRequest,
} from '../src/index.js';

/** What one `openRead` call should do, in order of calls; the last plan repeats. */
export interface ReadPlan {
  /** Fail the open itself with this error. */
  openError?: Error;
  /** Stop after this many bytes of the body, with `bodyError` (or a clean early end when absent). */
  cutAfter?: number;
  /** The error a cut body throws; none: the body just ends. */
  bodyError?: Error;
  /** Never send another byte after `cutAfter` (a stall); the body ignores the signal. */
  stall?: boolean;
  /** Extra bytes sent after the image (a body longer than announced). */
  extra?: number;
  /** Report this validator instead of the image's. */
  validator?: string;
}

/** An in-memory image store whose reads follow a script, for testing the core's transfer. */
export class MemoryImageService extends BaseImageService {
  readonly name = 'memory';
  readonly requests: Array<{ offset: number; length?: number; validator?: string }> = [];
  plans: ReadPlan[] = [];
  /** Chooses the plan from the request instead of the call order, when set. */
  planFor?: (request: { offset: number; length?: number }, call: number) => ReadPlan;
  storeChecksum?: Checksum;
  /** Bodies being read right now, and the most there ever were at once. */
  active = 0;
  maxActive = 0;
  #calls = 0;

  constructor(
    public bytes: Uint8Array,
    public chunkSize = 1000,
  ) {
    super();
  }

  async validateHref(imageHref: string): Promise<unknown> {
    return this.show(imageHref);
  }

  async show(imageHref: string): Promise<ImageInfo> {
    if (!imageHref.startsWith('mem://')) throw new ImageNotFound({ imageHref });
    return { size: this.bytes.byteLength, updatedAt: null, properties: {} };
  }

  protected override async openRead(imageHref: string, request: ReadRequest): Promise<ImageStream> {
    if (!imageHref.startsWith('mem://')) throw new ImageNotFound({ imageHref });
    this.requests.push({ offset: request.offset, length: request.length, validator: request.validator });
    const plan = this.planFor
      ? this.planFor(request, this.#calls)
      : (this.plans[Math.min(this.#calls, this.plans.length - 1)] ?? {});
    this.#calls += 1;
    if (plan.openError) throw plan.openError;
    const validator = plan.validator ?? 'v1';
    if (request.validator !== undefined && request.validator !== validator) {
      throw new ImageDownloadFailed({ imageHref, reason: 'changed', mustRestart: true, transient: true });
    }
    const end = request.length === undefined ? this.bytes.byteLength : request.offset + request.length;
    const slice = this.bytes.subarray(request.offset, end);
    const chunkSize = this.chunkSize;
    const counter = this;
    counter.active += 1;
    counter.maxActive = Math.max(counter.maxActive, counter.active);
    async function* counted() {
      try {
        yield* body();
      } finally {
        counter.active -= 1;
      }
    }
    async function* body() {
      let sent = 0;
      while (sent < slice.byteLength) {
        if (plan.cutAfter !== undefined && sent >= plan.cutAfter) {
          if (plan.stall) await new Promise(() => {});
          if (plan.bodyError) throw plan.bodyError;
          return;
        }
        const size = Math.min(
          chunkSize,
          slice.byteLength - sent,
          (plan.cutAfter ?? Number.POSITIVE_INFINITY) - sent,
        );
        yield slice.subarray(sent, sent + size);
        sent += size;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (plan.extra) yield new Uint8Array(plan.extra);
    }
    return {
      body: counted(),
      size: this.bytes.byteLength,
      validator,
      checksum: this.storeChecksum,
      rangesSupported: true,
    };
  }
}

/** Random bytes and their sha256. */
export function randomImage(size: number): { bytes: Uint8Array; sha256: string } {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A network-style error that the core treats as transient. */
export function connectionReset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/** A writable stream that keeps what it is given, for comparing with the image. */
export function collector(): Writable & { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return Object.assign(writable, { bytes: () => Buffer.concat(chunks) });
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

/** A service that serves nothing, to tell which driver a registry resolved to. */
export class NamedService extends BaseImageService {
  constructor(readonly name: string) {
    super();
  }
  async validateHref(): Promise<unknown> {
    return undefined;
  }
  async show(): Promise<ImageInfo> {
    return { size: 0, updatedAt: null, properties: {} };
  }
}
