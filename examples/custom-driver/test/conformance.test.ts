import { randomBytes } from 'node:crypto';
import { ImageServiceRegistry } from '@image-service/core';
import { imageFromBytes, runConformance } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryImageService, register } from '../src/index.js';

const service = new MemoryImageService({ chunkSize: 16 * 1024 });
const slow = new MemoryImageService({ chunkSize: 1024, chunkDelayMs: 5 });
const bytes = randomBytes(512 * 1024 + 3);
const href = service.put('disk image.raw', bytes);

runConformance(
  { describe, it, beforeAll, afterAll },
  {
    name: 'example memory:// driver',
    service: () => service,
    existing: imageFromBytes(href, bytes),
    missing: 'memory://no-such-image',
    malformed: 'memory://a/b?c',
  },
);

runConformance(
  { describe, it, beforeAll, afterAll },
  {
    name: 'example memory:// driver, slow store',
    service: () => slow,
    existing: imageFromBytes(slow.put('slow', bytes.subarray(0, 64 * 1024)), bytes.subarray(0, 64 * 1024)),
    missing: 'memory://missing',
    malformed: 'memory://',
    abortable: slow.put('big', randomBytes(4 * 1024 * 1024)),
  },
);

describe('registration', () => {
  it('resolves memory:// hrefs through a registry', async () => {
    const registry = new ImageServiceRegistry();
    register(service, registry);
    expect(await registry.resolve(href)).toBe(service);
    expect(() => register(service, registry)).toThrow(/already registered/);
  });
});
