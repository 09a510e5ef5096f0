import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  BaseImageService,
  createImageServiceRegistry,
  defaultRegistry,
  ErrorCode,
  getImageService,
  type ImageInfo,
  ImageServiceRegistry,
  isImageServiceError,
  registerDefaultDrivers,
} from '../src/index.js';

class Fake extends BaseImageService {
  readonly name = 'fake';
  async validateHref(): Promise<unknown> {
    return undefined;
  }
  async show(): Promise<ImageInfo> {
    return { size: 1, updatedAt: null, properties: {} };
  }
}

describe('getImageService', () => {
  it('resolves each default scheme to its driver, loading it on first use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'image-service-meta-'));
    await writeFile(join(dir, 'a.img'), 'abc');
    const file = await getImageService(pathToFileURL(join(dir, 'a.img')).href);
    expect(file.name).toBe('file');
    expect((await file.show(pathToFileURL(join(dir, 'a.img')).href)).size).toBe(3);
    expect((await getImageService('HTTPS://example.com/x.img')).name).toBe('http');
    expect((await getImageService('http://example.com/x.img')).name).toBe('http');
    expect((await getImageService('s3://bucket/key')).name).toBe('s3');
    expect((await getImageService('glance://0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb')).name).toBe('glance');
    expect((await getImageService('0fdc6a445bd54b2aa1b07e64ce6ad1bb')).name).toBe('glance');
  });

  it('reuses one service per driver', async () => {
    expect(await getImageService('http://a/x')).toBe(await getImageService('https://b/y'));
  });

  it("rejects with the reference's reasons", async () => {
    const bare = await getImageService('not-a-uuid').catch((e: unknown) => e);
    expect(isImageServiceError(bare, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect((bare as Error).message).toContain('Scheme-less image href is not a UUID.');
    const unknown = await getImageService('ftp://x/y').catch((e: unknown) => e);
    expect((unknown as Error).message).toContain('Image download protocol ftp is not supported.');
  });

  it('leaves a scheme someone registered first alone', () => {
    const registry = new ImageServiceRegistry();
    const fake = new Fake();
    registry.register('s3', () => fake);
    registerDefaultDrivers(registry);
    expect(registry.schemes()).toEqual(['file', 'glance', 'http', 'https', 's3']);
    return expect(registry.resolve('s3://b/k')).resolves.toBe(fake);
  });

  it('builds independent registries with their own driver options', async () => {
    const registry = createImageServiceRegistry({ file: { allowedPaths: ['/nowhere'] } });
    expect(registry).not.toBe(defaultRegistry);
    const service = await getImageService('file:///tmp/x.img', { registry });
    const error = await service.show('file:///tmp/x.img').catch((e: unknown) => e);
    expect((error as Error).message).toContain('is not allowed for image source file URLs');
  });
});

describe("the drivers' side-effect entries", () => {
  it('leave a scheme the default registry already serves alone, so importing one twice or beside this package is safe', async () => {
    const before = await getImageService('s3://bucket/key');
    await import('@image-service/file/register');
    await import('@image-service/http/register');
    await import('@image-service/s3/register');
    await import('@image-service/glance/register');
    expect(await getImageService('s3://bucket/key')).toBe(before);
    expect(defaultRegistry.schemes()).toEqual(['file', 'glance', 'http', 'https', 's3']);
  });
});
