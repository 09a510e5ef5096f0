import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, isImageServiceError } from '@image-service/core';
import { describe, expect, it } from 'vitest';
import { copyImage } from '../src/copy-image.js';

describe('example app with only the core and the file driver', () => {
  it('copies a file:// image and verifies it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'example-basic-'));
    const bytes = randomBytes(100_000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(dir, 'src.img'), bytes);
    const result = await copyImage(pathToFileURL(join(dir, 'src.img')).href, join(dir, 'dst.img'), {
      sha256,
    });
    expect(result.checksum?.value).toBe(sha256);
    expect(await readFile(join(dir, 'dst.img'))).toEqual(bytes);
  });

  it('cannot reach http:// because that driver is not installed, and says what to install', async () => {
    const error = await copyImage('http://127.0.0.1:9/x.img', '/tmp/x').catch((e: unknown) => e);
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect((error as Error).message).toContain('@image-service/http');
  });
});
