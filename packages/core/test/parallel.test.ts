import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { downloadToFile, ErrorCode, isImageServiceError, parallelPolicy } from '../src/index.js';
import { collector, connectionReset, MemoryImageService, randomImage } from './memory-service.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const parallel = { partSize: 64 * 1024, concurrency: 3, threshold: 0 };
const retry = { retries: 3, minDelayMs: 1, maxDelayMs: 5 };

describe('parallel ranged fetching', () => {
  it('fetches parts pinned to the first validator and writes them in order', async () => {
    const image = randomImage(1_000_000);
    const service = new MemoryImageService(image.bytes, 10_000);
    const out = collector();
    const progress: number[] = [];
    const result = await service.download('mem://i', out, {
      parallel,
      computeChecksum: 'sha256',
      onProgress: (p) => progress.push(p.bytes),
    });
    expect(sha256(out.bytes())).toBe(image.sha256);
    expect(result.checksum?.value).toBe(image.sha256);
    const ranged = service.requests.slice(1);
    expect(ranged).toHaveLength(Math.ceil(1_000_000 / 65_536) - 1);
    expect(ranged.every((r) => r.validator === 'v1' && r.length !== undefined)).toBe(true);
    expect(ranged.map((r) => r.offset)).toEqual(ranged.map((_r, i) => (i + 1) * 65_536));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(1_000_000);
  });

  it('never has more than `concurrency` ranges open at once', async () => {
    const image = randomImage(600_000);
    const service = new MemoryImageService(image.bytes, 4_000);
    await service.download('mem://i', collector(), { parallel });
    expect(service.maxActive).toBeLessThanOrEqual(3);
    expect(service.maxActive).toBeGreaterThan(1);
  });

  it('retries a failed part on its own, from where it stopped', async () => {
    const image = randomImage(500_000);
    const service = new MemoryImageService(image.bytes, 5_000);
    let failed = false;
    service.planFor = (request) => {
      if (request.offset === 131_072 && !failed) {
        failed = true;
        return { cutAfter: 20_000, bodyError: connectionReset() };
      }
      return {};
    };
    const out = collector();
    await service.download('mem://i', out, { parallel, retry });
    expect(sha256(out.bytes())).toBe(image.sha256);
    const retried = service.requests.filter((r) => r.offset === 131_072 + 20_000);
    expect(retried).toEqual([{ offset: 151_072, length: 65_536 - 20_000, validator: 'v1' }]);
  });

  it('restarts from byte 0 into a file when the image changes mid-download, never splicing', async () => {
    const image = randomImage(400_000);
    const service = new MemoryImageService(image.bytes, 5_000);
    service.planFor = (request, call) =>
      call > 0 && call < 3 && request.offset > 0 ? { validator: 'v2' } : call >= 3 ? { validator: 'v2' } : {};
    const dir = await mkdtemp(join(tmpdir(), 'image-service-parallel-'));
    const result = await downloadToFile(service, 'mem://i', join(dir, 'out.img'), { parallel, retry });
    expect(sha256(await readFile(join(dir, 'out.img')))).toBe(image.sha256);
    expect(result.retries).toBeGreaterThan(0);
    expect(service.requests.filter((r) => r.offset === 0)).toHaveLength(2);
  });

  it('rejects promptly with ImageOperationAborted when aborted mid-way', async () => {
    const image = randomImage(2_000_000);
    const service = new MemoryImageService(image.bytes, 1_000);
    const controller = new AbortController();
    const error = await service
      .download('mem://i', collector(), {
        parallel,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.bytes > 300_000) controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(isImageServiceError(error, ErrorCode.ImageOperationAborted)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(service.active).toBe(0);
  });

  it('uses one request below the threshold or when turned off', async () => {
    const image = randomImage(200_000);
    const service = new MemoryImageService(image.bytes);
    await service.download('mem://i', collector(), { parallel: { ...parallel, threshold: 300_000 } });
    await service.download('mem://i', collector(), { parallel: false });
    expect(service.requests).toHaveLength(2);
  });

  it('checks its settings', () => {
    expect(parallelPolicy(false, undefined)).toBeUndefined();
    expect(parallelPolicy({ concurrency: 1 }, undefined)).toBeUndefined();
    expect(() => parallelPolicy({}, { partSize: 10 })).toThrow(TypeError);
    expect(parallelPolicy({ partSize: 1 << 20 }, { concurrency: 2 })).toEqual({
      partSize: 1 << 20,
      concurrency: 2,
      threshold: 32 * 1024 * 1024,
    });
  });
});
