import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  DEFAULT_RETRY,
  downloadToFile,
  ErrorCode,
  ImageDownloadFailed,
  isImageServiceError,
  type Progress,
} from '../src/index.js';
import {
  collector,
  connectionReset,
  MemoryImageService,
  randomImage,
  rejectionOf,
} from './memory-service.js';

const fast = { retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 } };

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('transfer through download()', () => {
  it('streams every byte, computes a digest and ends the stream', async () => {
    const image = randomImage(50_000);
    const service = new MemoryImageService(image.bytes);
    const out = collector();
    const progress: Progress[] = [];
    const result = await service.download('mem://i', out, {
      computeChecksum: 'sha256',
      onProgress: (p) => progress.push(p),
    });
    expect(result).toEqual({
      bytes: 50_000,
      checksum: { algorithm: 'sha256', value: image.sha256 },
      retries: 0,
    });
    expect(sha256(out.bytes())).toBe(image.sha256);
    expect(out.writableEnded).toBe(true);
    expect(progress[0]).toEqual({ bytes: 0, total: 50_000 });
    expect(progress.at(-1)).toEqual({ bytes: 50_000, total: 50_000 });
  });

  it('keeps the stream open with end: false', async () => {
    const out = collector();
    await new MemoryImageService(randomImage(10).bytes).download('mem://i', out, { end: false });
    expect(out.writableEnded).toBe(false);
  });

  it('honours the writable stream backpressure', async () => {
    const image = randomImage(200_000);
    const out = new PassThrough({ highWaterMark: 1000 });
    const read: Buffer[] = [];
    let maxBuffered = 0;
    const reading = (async () => {
      for await (const chunk of out) {
        maxBuffered = Math.max(maxBuffered, out.readableLength + out.writableLength);
        read.push(chunk as Buffer);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    await new MemoryImageService(image.bytes).download('mem://i', out);
    await reading;
    expect(sha256(Buffer.concat(read))).toBe(image.sha256);
    expect(maxBuffered).toBeLessThan(10_000);
  });

  it('verifies an expected checksum, whatever its case', async () => {
    const image = randomImage(3000);
    const service = new MemoryImageService(image.bytes);
    const ok = await service.download('mem://i', collector(), {
      checksum: { algorithm: 'sha256', value: image.sha256.toUpperCase() },
    });
    expect(ok.checksum?.value).toBe(image.sha256);
    const error = await rejectionOf(
      service.download('mem://i', collector(), { checksum: { algorithm: 'sha256', value: '0'.repeat(64) } }),
    );
    expect(isImageServiceError(error, ErrorCode.ImageChecksumError)).toBe(true);
    const malformed = await rejectionOf(
      service.download('mem://i', collector(), { checksum: { algorithm: 'sha256', value: 'abc' } }),
    );
    expect(isImageServiceError(malformed, ErrorCode.ImageChecksumError)).toBe(true);
  });

  it("verifies the store's own digest unless told not to", async () => {
    const image = randomImage(3000);
    const service = new MemoryImageService(image.bytes);
    service.storeChecksum = { algorithm: 'sha256', value: '1'.repeat(64) };
    const error = await rejectionOf(service.download('mem://i', collector()));
    expect(isImageServiceError(error, ErrorCode.ImageChecksumError)).toBe(true);
    expect(error.message).toContain("store's published");
    await service.download('mem://i', collector(), { verifyStoreChecksum: false });
    service.storeChecksum = { algorithm: 'sha256', value: image.sha256 };
    expect((await service.download('mem://i', collector())).checksum?.value).toBe(image.sha256);
  });

  it('resumes after a reset mid-body from the byte it reached, pinned to the first validator', async () => {
    const image = randomImage(20_000);
    const service = new MemoryImageService(image.bytes);
    service.plans = [{ cutAfter: 7000, bodyError: connectionReset() }, {}];
    const out = collector();
    const progress: number[] = [];
    const result = await service.download('mem://i', out, {
      ...fast,
      computeChecksum: 'sha256',
      onProgress: (p) => progress.push(p.bytes),
    });
    expect(service.requests).toEqual([
      { offset: 0, length: undefined, validator: undefined },
      { offset: 7000, length: undefined, validator: 'v1' },
    ]);
    expect(sha256(out.bytes())).toBe(image.sha256);
    expect(result.checksum?.value).toBe(image.sha256);
    expect(result.retries).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('treats a body that ends early as an interruption and resumes', async () => {
    const image = randomImage(10_000);
    const service = new MemoryImageService(image.bytes);
    service.plans = [{ cutAfter: 4000 }, {}];
    const out = collector();
    await service.download('mem://i', out, fast);
    expect(sha256(out.bytes())).toBe(image.sha256);
  });

  it('fails with ImageDownloadFailed when the body stays short after every retry', async () => {
    const service = new MemoryImageService(randomImage(10_000).bytes);
    service.plans = [{ cutAfter: 0 }];
    const error = await rejectionOf(service.download('mem://i', collector(), fast));
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(error.message).toContain('closed after 0 of 10000 bytes');
    expect(service.requests).toHaveLength(4);
  });

  it('refuses a body longer than the size', async () => {
    const service = new MemoryImageService(randomImage(1000).bytes);
    service.plans = [{ extra: 10 }];
    const error = await rejectionOf(service.download('mem://i', collector(), fast));
    expect(error.message).toContain("more than the image's 1000 bytes");
  });

  it('does not retry a failure that is not transient', async () => {
    const service = new MemoryImageService(randomImage(1000).bytes);
    service.plans = [{ openError: new ImageDownloadFailed({ reason: 'forbidden' }) }];
    await rejectionOf(service.download('mem://i', collector(), fast));
    expect(service.requests).toHaveLength(1);
  });

  it('wraps an unknown failure in ImageDownloadFailed', async () => {
    const service = new MemoryImageService(randomImage(1000).bytes);
    service.plans = [{ cutAfter: 10, bodyError: new TypeError('boom') }];
    const error = await rejectionOf(service.download('mem://i', collector(), fast));
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(error.message).toContain('boom');
  });

  it('catches a stalled body with the idle timeout, even when the driver ignores the signal', async () => {
    const service = new MemoryImageService(randomImage(5000).bytes);
    service.plans = [{ cutAfter: 1000, stall: true }];
    const error = await rejectionOf(
      service.download('mem://i', collector(), { retry: false, idleTimeoutMs: 50 }),
    );
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(error.message).toContain('no data arrived for 50 ms after 1000 bytes');
  });

  it('resumes after a stall', async () => {
    const image = randomImage(5000);
    const service = new MemoryImageService(image.bytes);
    service.plans = [{ cutAfter: 1000, stall: true }, {}];
    const out = collector();
    await service.download('mem://i', out, { ...fast, idleTimeoutMs: 50 });
    expect(sha256(out.bytes())).toBe(image.sha256);
  });

  it('rejects promptly with ImageOperationAborted when the caller aborts a stalled body', async () => {
    const service = new MemoryImageService(randomImage(5000).bytes);
    service.plans = [{ cutAfter: 1000, stall: true }];
    const controller = new AbortController();
    const pending = service.download('mem://i', collector(), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytes >= 1000) setTimeout(() => controller.abort(), 5);
      },
    });
    const error = await rejectionOf(pending);
    expect(isImageServiceError(error, ErrorCode.ImageOperationAborted)).toBe(true);
    expect(error.name).toBe('AbortError');
  });

  it('cannot restart into a plain stream when the image changed', async () => {
    const service = new MemoryImageService(randomImage(5000).bytes);
    service.plans = [{ cutAfter: 1000, bodyError: connectionReset() }, { validator: 'v2' }];
    const error = await rejectionOf(service.download('mem://i', collector(), fast));
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(error.message).toContain('changed');
  });
});

describe('downloadToFile', () => {
  async function scratch() {
    return mkdtemp(join(tmpdir(), 'image-service-core-'));
  }

  it('writes atomically and leaves only the destination', async () => {
    const dir = await scratch();
    const image = randomImage(300_000);
    const service = new MemoryImageService(image.bytes, 64 * 1024);
    const result = await downloadToFile(service, 'mem://i', join(dir, 'out.img'), {
      fileSink: { batchBytes: 100_000, maxInFlight: 2 },
    });
    expect(result.bytes).toBe(300_000);
    expect(sha256(await readFile(join(dir, 'out.img')))).toBe(image.sha256);
    expect(await readdir(dir)).toEqual(['out.img']);
  });

  it('flushes to disk in the background while writing, and the result is exact', async () => {
    const dir = await scratch();
    const image = randomImage(1_000_000);
    const service = new MemoryImageService(image.bytes, 10_000);
    await downloadToFile(service, 'mem://i', join(dir, 'out.img'), {
      fileSink: { batchBytes: 32 * 1024, maxInFlight: 3, syncEveryBytes: 100_000 },
    });
    expect(sha256(await readFile(join(dir, 'out.img')))).toBe(image.sha256);
  });

  it('restarts from byte 0 when the image changed mid-download, and the file holds only the new image', async () => {
    const dir = await scratch();
    const image = randomImage(20_000);
    const service = new MemoryImageService(image.bytes);
    service.plans = [
      { cutAfter: 5000, bodyError: connectionReset() },
      { validator: 'v2' },
      { validator: 'v2' },
    ];
    const progress: number[] = [];
    const result = await downloadToFile(service, 'mem://i', join(dir, 'out.img'), {
      ...fast,
      onProgress: (p) => progress.push(p.bytes),
    });
    expect(service.requests.map((r) => r.offset)).toEqual([0, 5000, 0]);
    expect(sha256(await readFile(join(dir, 'out.img')))).toBe(image.sha256);
    expect(result.retries).toBe(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('leaves an existing destination untouched and no temporary file on failure', async () => {
    const dir = await scratch();
    const dest = join(dir, 'out.img');
    await writeFile(dest, 'old');
    const service = new MemoryImageService(randomImage(20_000).bytes);
    service.plans = [{ cutAfter: 5000, bodyError: new TypeError('boom') }];
    await rejectionOf(downloadToFile(service, 'mem://i', dest, fast));
    expect(await readFile(dest, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['out.img']);
  });

  it('fails with a typed error when the destination is a directory or its directory is missing', async () => {
    const dir = await scratch();
    const service = new MemoryImageService(randomImage(100).bytes);
    const isDir = await rejectionOf(downloadToFile(service, 'mem://i', dir));
    expect(isImageServiceError(isDir, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(isDir.message).toContain('is a directory');
    const missing = await rejectionOf(downloadToFile(service, 'mem://i', join(dir, 'nope', 'x.img')));
    expect(isImageServiceError(missing, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(missing.message).toContain('does not exist');
  });

  it('removes the temporary file a dead process left, and keeps a live one', async () => {
    const dir = await scratch();
    const dead = join(dir, '.out.img.999999999.deadbeef.image-service-partial');
    const live = join(dir, `.out.img.${process.ppid}.cafebabe.image-service-partial`);
    await writeFile(dead, 'partial');
    await writeFile(live, 'partial');
    await downloadToFile(new MemoryImageService(randomImage(100).bytes), 'mem://i', join(dir, 'out.img'));
    expect((await readdir(dir)).sort()).toEqual([live.slice(dir.length + 1), 'out.img'].sort());
  });

  it('rejects an already aborted signal before touching the destination', async () => {
    const dir = await scratch();
    const error = await rejectionOf(
      downloadToFile(new MemoryImageService(randomImage(100).bytes), 'mem://i', join(dir, 'x'), {
        signal: AbortSignal.abort(),
      }),
    );
    expect(isImageServiceError(error, ErrorCode.ImageOperationAborted)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('backoffDelay', () => {
  it('honours Retry-After up to the cap, else backs off exponentially with jitter', () => {
    expect(backoffDelay(1, DEFAULT_RETRY, 2000)).toBe(2000);
    expect(backoffDelay(1, DEFAULT_RETRY, 10 ** 9)).toBe(DEFAULT_RETRY.maxDelayMs);
    for (let attempt = 1; attempt < 12; attempt++) {
      const delay = backoffDelay(attempt, DEFAULT_RETRY);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.min(DEFAULT_RETRY.maxDelayMs, 250 * 2 ** (attempt - 1)));
    }
  });
});

describe('idle timeout and keep-alive chunks', () => {
  it('counts an empty chunk as activity, so a driver can skip bytes without tripping the timeout', async () => {
    const image = randomImage(2000);
    const service = new (class extends MemoryImageService {
      protected override async openRead(href: string, request: import('../src/index.js').ReadRequest) {
        const stream = await super.openRead(href, request);
        const inner = stream.body;
        async function* withKeepAlive() {
          for (let i = 0; i < 6; i++) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            yield new Uint8Array(0);
          }
          yield* inner;
        }
        return { ...stream, body: withKeepAlive() };
      }
    })(image.bytes);
    const out = collector();
    await service.download('mem://i', out, { retry: false, idleTimeoutMs: 60 });
    expect(sha256(out.bytes())).toBe(image.sha256);
  });
});
