import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import {
  type BaseImageService,
  downloadToFile,
  ErrorCode,
  type ImageServiceError,
  isImageServiceError,
  logSink,
  type Progress,
} from '@image-service/core';

/** The test functions of whatever runner the driver uses (vitest, jest, node:test, mocha); the kit pins none. */
export interface TestApi {
  /** Groups tests. */
  describe: (name: string, body: () => void) => unknown;
  /** Declares one test. */
  it: (name: string, body: () => Promise<void>) => unknown;
  /** Runs once before the group's tests. */
  beforeAll?: (body: () => Promise<void>) => unknown;
  /** Runs once after the group's tests. */
  afterAll?: (body: () => Promise<void>) => unknown;
}

/** An image the driver can serve, and what its bytes must be. */
export interface ExistingImage {
  /** Its href. */
  href: string;
  /** Its size in bytes. */
  size: number;
  /** The SHA-256 of its bytes, lower-case hex. */
  sha256: string;
}

/** What the kit runs a driver against. */
export interface ConformanceFixture {
  /** Names the suite. */
  name: string;
  /** Makes the service under test; called once, lazily. */
  service: () => BaseImageService | Promise<BaseImageService>;
  /** An image that exists (see {@link imageFromBytes}). */
  existing: ExistingImage | (() => ExistingImage);
  /** An href of the driver's scheme whose image does not exist. */
  missing: string;
  /** An href of the driver's scheme that is malformed. */
  malformed: string;
  /** A failing href carrying planted secrets (a password, a token, a signature), none of which may appear in any error. */
  secret?: { href: string; secrets: string[] };
  /** An image big or slow enough to abort mid-download; defaults to `existing`. */
  abortable?: string;
}

/** An {@link ExistingImage} from an href and the bytes it serves. */
export function imageFromBytes(href: string, bytes: Uint8Array): ExistingImage {
  return { href, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A writable stream that hashes and counts what it is given. */
class HashingWritable extends Writable {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    callback();
  }
}

/** Everything an error shows when printed, logged or serialized: String(), util.inspect, message, stack and JSON of it and of every cause. */
export function renderError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    parts.push(String(current), inspect(current, { depth: 10 }));
    if (current instanceof Error) parts.push(current.message, current.stack ?? '');
    try {
      parts.push(JSON.stringify(current) ?? '');
    } catch {
      // Not serializable: the other renderings stand.
    }
    current = (current as { cause?: unknown })?.cause;
  }
  return parts.join('\n');
}

/**
 * The error `operation` rejects with; throws when it resolves, or when it has not settled after `timeoutMs` (a hang),
 * naming `what` either way. For fuzzing: every hostile input must fail, fail fast and fail typed.
 */
export async function failureWithin(
  operation: () => Promise<unknown>,
  what: string,
  timeoutMs = 5000,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung`)), timeoutMs);
  });
  try {
    await Promise.race([operation(), hang]);
  } catch (error) {
    return error;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`${what} resolved`);
}

/**
 * Turns on every driver's debug log (`IMAGE_SERVICE_DEBUG`, default all namespaces) and collects its lines into
 * `lines`, to check that no secret reaches a log; returns the function that puts logging back as it was.
 */
export function captureDebugLog(lines: string[], namespaces = '*'): () => void {
  const write = logSink.write;
  const saved = process.env.IMAGE_SERVICE_DEBUG;
  process.env.IMAGE_SERVICE_DEBUG = namespaces;
  logSink.write = (line) => {
    lines.push(line);
  };
  return () => {
    logSink.write = write;
    if (saved === undefined) delete process.env.IMAGE_SERVICE_DEBUG;
    else process.env.IMAGE_SERVICE_DEBUG = saved;
  };
}

function fail(message: string): never {
  throw new Error(`conformance: ${message}`);
}

async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return fail(`${what} resolved; it must reject`);
}

function expectCode(error: unknown, code: ErrorCode, what: string): asserts error is ImageServiceError {
  if (!isImageServiceError(error, code)) {
    fail(`${what} must reject with ${code}, got ${renderError(error).split('\n')[0]}`);
  }
}

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/**
 * Runs the contract's checks against a driver, with the caller's test functions: `show().size` equals the bytes
 * `download` writes; `updatedAt` is a Date or null; missing and malformed hrefs reject with the right classes and codes;
 * the checksum option accepts the right digest and rejects a wrong one; an aborted download rejects promptly and leaves
 * no file through `downloadToFile`; progress is monotonic and ends at the size; no planted secret appears in an error.
 */
export function runConformance(api: TestApi, fixture: ConformanceFixture): void {
  const { describe, it } = api;
  let service: BaseImageService | undefined;
  let workDir = '';
  const getService = async () => {
    service ??= await fixture.service();
    return service;
  };
  const existing = () => (typeof fixture.existing === 'function' ? fixture.existing() : fixture.existing);
  const scratch = async () => {
    workDir ||= await mkdtemp(join(tmpdir(), 'image-service-conformance-'));
    return mkdtemp(join(workDir, 'case-'));
  };

  describe(`image-service conformance: ${fixture.name}`, () => {
    api.afterAll?.(async () => {
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('validateHref resolves for an existing image', async () => {
      await (await getService()).validateHref(existing().href);
    });

    it('show reports the size download writes, a Date or null, and properties', async () => {
      const image = existing();
      const svc = await getService();
      const info = await svc.show(image.href);
      if (info.size !== image.size) fail(`show().size is ${info.size}, the image has ${image.size} bytes`);
      if (!Number.isSafeInteger(info.size) || info.size < 0)
        fail('show().size must be a non-negative integer');
      if (
        info.updatedAt !== null &&
        !(info.updatedAt instanceof Date && !Number.isNaN(info.updatedAt.getTime()))
      ) {
        fail(`show().updatedAt must be a valid Date or null, got ${inspect(info.updatedAt)}`);
      }
      if (typeof info.properties !== 'object' || info.properties === null)
        fail('show().properties must be an object');
      const sink = new HashingWritable();
      const result = await svc.download(image.href, sink);
      if (sink.bytes !== info.size || result.bytes !== info.size) {
        fail(`download wrote ${sink.bytes} bytes (reported ${result.bytes}); show said ${info.size}`);
      }
      if (sink.hash.digest('hex') !== image.sha256)
        fail('download wrote bytes whose sha256 differs from the image');
    });

    it('downloadToFile writes the exact image and reports monotonic progress ending at the size', async () => {
      const image = existing();
      const dir = await scratch();
      const dest = join(dir, 'image.img');
      const seen: Progress[] = [];
      const result = await downloadToFile(await getService(), image.href, dest, {
        onProgress: (p) => seen.push(p),
      });
      const bytes = await readFile(dest);
      if (bytes.byteLength !== image.size || result.bytes !== image.size)
        fail('downloadToFile wrote the wrong size');
      if (createHash('sha256').update(bytes).digest('hex') !== image.sha256)
        fail('downloadToFile wrote wrong bytes');
      if (seen.length === 0) fail('onProgress was never called');
      for (let i = 1; i < seen.length; i++) {
        if ((seen[i]?.bytes ?? 0) < (seen[i - 1]?.bytes ?? 0)) fail('progress went backwards');
      }
      const last = seen.at(-1);
      if (last?.bytes !== image.size) fail(`progress ended at ${last?.bytes}, not at the size ${image.size}`);
      for (const p of seen) {
        if (p.total !== null && p.total !== image.size)
          fail(`progress total ${p.total} is not the size ${image.size}`);
      }
      if ((await listDir(dir)).join() !== 'image.img')
        fail(`downloadToFile left files behind: ${await listDir(dir)}`);
    });

    it('the checksum option accepts the right digest and returns it', async () => {
      const image = existing();
      const result = await (await getService()).download(image.href, new HashingWritable(), {
        checksum: { algorithm: 'sha256', value: image.sha256.toUpperCase() },
      });
      if (result.checksum?.algorithm !== 'sha256' || result.checksum.value !== image.sha256) {
        fail(`download returned checksum ${inspect(result.checksum)}, expected sha256:${image.sha256}`);
      }
    });

    it('a wrong checksum rejects with ImageChecksumError and leaves an existing destination untouched', async () => {
      const image = existing();
      const dir = await scratch();
      const dest = join(dir, 'image.img');
      await writeFile(dest, 'previous contents');
      const wrong = image.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      const error = await rejection(
        downloadToFile(await getService(), image.href, dest, {
          checksum: { algorithm: 'sha256', value: wrong },
        }),
        'a download with a wrong checksum',
      );
      expectCode(error, ErrorCode.ImageChecksumError, 'a wrong checksum');
      if ((await readFile(dest, 'utf8')) !== 'previous contents')
        fail('a failed download changed the destination');
      if ((await listDir(dir)).join() !== 'image.img')
        fail(`a failed download left files: ${await listDir(dir)}`);
    });

    it('a missing image rejects show, download and downloadToFile with ImageRefValidationFailed', async () => {
      const svc = await getService();
      expectCode(
        await rejection(svc.show(fixture.missing), 'show(missing)'),
        ErrorCode.ImageRefValidationFailed,
        'show(missing)',
      );
      const dir = await scratch();
      const error = await rejection(
        downloadToFile(svc, fixture.missing, join(dir, 'x.img')),
        'downloadToFile(missing)',
      );
      expectCode(error, ErrorCode.ImageServiceError, 'downloadToFile(missing)');
      if (
        !isImageServiceError(error, ErrorCode.ImageRefValidationFailed) &&
        !isImageServiceError(error, ErrorCode.ImageDownloadFailed)
      ) {
        fail(`downloadToFile(missing) rejected with ${(error as ImageServiceError).code}`);
      }
      if ((await listDir(dir)).length !== 0) fail(`a failed download left files: ${await listDir(dir)}`);
    });

    it('a malformed href rejects show and validateHref with ImageRefValidationFailed', async () => {
      const svc = await getService();
      expectCode(
        await rejection(svc.show(fixture.malformed), 'show(malformed)'),
        ErrorCode.ImageRefValidationFailed,
        'show(malformed)',
      );
      expectCode(
        await rejection(svc.validateHref(fixture.malformed), 'validateHref(malformed)'),
        ErrorCode.ImageRefValidationFailed,
        'validateHref(malformed)',
      );
    });

    it('an aborted download rejects promptly with ImageOperationAborted and leaves no file', async () => {
      const svc = await getService();
      const href = fixture.abortable ?? existing().href;
      const dir = await scratch();
      const controller = new AbortController();
      const pending = downloadToFile(svc, href, join(dir, 'image.img'), {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.bytes > 0) controller.abort();
        },
      });
      const timer = setTimeout(() => controller.abort(), 50);
      const error = await rejection(pending, 'an aborted download').finally(() => clearTimeout(timer));
      expectCode(error, ErrorCode.ImageOperationAborted, 'an aborted download');
      if ((await listDir(dir)).length !== 0) fail(`an aborted download left files: ${await listDir(dir)}`);
    });

    it('an already aborted signal rejects show and download', async () => {
      const svc = await getService();
      const signal = AbortSignal.abort();
      expectCode(
        await rejection(svc.show(existing().href, { signal }), 'show'),
        ErrorCode.ImageOperationAborted,
        'show',
      );
      expectCode(
        await rejection(svc.download(existing().href, new HashingWritable(), { signal }), 'download'),
        ErrorCode.ImageOperationAborted,
        'download',
      );
    });

    if (fixture.secret) {
      const { href, secrets } = fixture.secret;
      it('no planted secret appears in any error, however it is rendered', async () => {
        const svc = await getService();
        const dir = await scratch();
        const errors = [
          await rejection(svc.show(href), 'show(secret href)'),
          await rejection(svc.validateHref(href), 'validateHref(secret href)'),
          await rejection(svc.validateHref(href, { secret: true }), 'validateHref(secret href, secret)'),
          await rejection(svc.download(href, new HashingWritable()), 'download(secret href)'),
          await rejection(downloadToFile(svc, href, join(dir, 'x.img')), 'downloadToFile(secret href)'),
        ];
        for (const error of errors) {
          expectCode(error, ErrorCode.ImageServiceError, 'a failure with a secret href');
          const text = renderError(error);
          for (const secret of secrets) {
            if (text.includes(secret)) fail(`the secret "${secret}" appears in: ${text.slice(0, 500)}`);
          }
        }
        const hidden = renderError(errors[2]);
        for (const part of [href, ...secrets]) {
          if (hidden.includes(part)) fail('validateHref with secret: true shows the href');
        }
      });
    }
  });
}
