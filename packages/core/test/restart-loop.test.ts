import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { downloadToFile, ErrorCode, isImageServiceError } from '../src/index.js';
import { connectionReset, MemoryImageService, randomImage } from './memory-service.js';

/**
 * The retry budget ("attempts after the first, per stretch without progress") must not be refilled by bytes a restart
 * downloads again: a store that drops every attempt at the same byte and cannot be resumed (no validator, or a new one
 * each time) would otherwise be retried for ever: the core counts only progress past the furthest byte reached.
 */
describe('restarts and the retry budget', () => {
  it('gives up with ImageDownloadFailed when every attempt breaks at the same byte and each restart starts over', async () => {
    const service = new MemoryImageService(randomImage(20_000).bytes, 1000);
    // A new validator on every open (a dynamic ETag): a resume is refused and the transfer restarts from byte 0.
    service.planFor = (_request, call) => ({
      cutAfter: 5000,
      bodyError: connectionReset(),
      validator: `v${call}`,
    });
    const dir = await mkdtemp(join(tmpdir(), 'image-service-restart-loop-'));
    const error = await downloadToFile(service, 'mem://i', join(dir, 'image.img'), {
      retry: { retries: 3, minDelayMs: 1, maxDelayMs: 1 },
      signal: AbortSignal.timeout(3000),
    }).catch((e: unknown) => e);
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed), String(error)).toBe(true);
    expect(service.requests.length).toBeLessThanOrEqual(2 * (3 + 1));
    expect(await readdir(dir)).toEqual([]);
  });
});
