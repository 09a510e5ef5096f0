import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BackgroundHashers, ErrorCode, isImageServiceError } from '../src/index.js';
import {
  collector,
  connectionReset,
  MemoryImageService,
  randomImage,
  rejectionOf,
} from './memory-service.js';

const MiB = 1024 * 1024;

describe('hashing on a worker thread (images of 16 MiB and more)', () => {
  const image = randomImage(20 * MiB + 123);
  const sha512 = createHash('sha512').update(image.bytes).digest('hex');

  it('verifies and returns the digests, several algorithms at once', async () => {
    const service = new MemoryImageService(image.bytes, 256 * 1024);
    const result = await service.download('mem://i', collector(), {
      checksum: { algorithm: 'sha256', value: image.sha256 },
      computeChecksum: 'sha512',
    });
    expect(result.checksum).toEqual({ algorithm: 'sha256', value: image.sha256 });
    service.storeChecksum = { algorithm: 'sha512', value: sha512 };
    expect((await service.download('mem://i', collector())).checksum).toEqual({
      algorithm: 'sha512',
      value: sha512,
    });
  });

  it('rejects a wrong digest', async () => {
    const service = new MemoryImageService(image.bytes, 256 * 1024);
    const error = await rejectionOf(
      service.download('mem://i', collector(), { checksum: { algorithm: 'sha256', value: '0'.repeat(64) } }),
    );
    expect(isImageServiceError(error, ErrorCode.ImageChecksumError)).toBe(true);
    expect(error.message).toContain(image.sha256);
  });

  it('stays right across a resume', async () => {
    const service = new MemoryImageService(image.bytes, 256 * 1024);
    service.plans = [{ cutAfter: 7 * MiB, bodyError: connectionReset() }, {}];
    const result = await service.download('mem://i', collector(), {
      checksum: { algorithm: 'sha256', value: image.sha256 },
      retry: { retries: 2, minDelayMs: 1, maxDelayMs: 1 },
    });
    expect(result.retries).toBe(1);
  });

  it('holds the caller back when the worker is behind, with bounded batches', async () => {
    const hashers = new BackgroundHashers(['sha256'], { batchBytes: 64 * 1024, batches: 2 });
    let waited = 0;
    for (let at = 0; at < image.bytes.byteLength; at += 200_000) {
      const pending = hashers.update(image.bytes.subarray(at, at + 200_000));
      if (pending) {
        waited += 1;
        await pending;
      }
    }
    expect(waited).toBeGreaterThan(0);
    expect((await hashers.digest()).get('sha256')?.value).toBe(image.sha256);
  });
});
