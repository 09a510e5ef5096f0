import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, ErrorCode, isImageServiceError } from '@image-service/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GlanceImageService } from '../src/index.js';
import { type FakeImage, FakeOpenStack } from './fake-openstack.js';

/**
 * downloadToFile through the glance driver with the connection reset at any byte: the destination ends up as the
 * complete image (its published sha512 verified) or exactly as it was, and nothing else is left in its folder.
 */

const SIZE = 300_000;
const PREVIOUS = 'the previous image';
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

let fake: FakeOpenStack;
let root = '';
const services: GlanceImageService[] = [];

beforeAll(async () => {
  fake = await new FakeOpenStack().start();
  root = await mkdtemp(join(tmpdir(), 'image-service-glance-dest-'));
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
  fake.fileHook = undefined;
});
afterAll(async () => {
  await fake.stop();
  await rm(root, { recursive: true, force: true });
});

function service(): GlanceImageService {
  const made = new GlanceImageService({
    auth: { authUrl: `${fake.url}/v3`, username: 'demo', password: fake.password, projectName: 'demo' },
    numRetries: 0,
  });
  services.push(made);
  return made;
}

let cases = 0;
async function destination() {
  const folder = await mkdtemp(join(root, `case-${cases++}-`));
  const path = join(folder, 'image.img');
  await writeFile(path, PREVIOUS);
  return { path, listing: () => readdir(folder) };
}

/** Sends the image's bytes from where the request asks up to the absolute byte `at`, then resets the connection. */
function resetAt(res: ServerResponse, image: FakeImage, at: number): true {
  const start = Number(/^bytes=(\d+)-/.exec(String(res.req.headers.range ?? ''))?.[1] ?? 0);
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(image.data.length - start),
  };
  if (start > 0) headers['content-range'] = `bytes ${start}-${image.data.length - 1}/${image.data.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  res.flushHeaders();
  res.write(image.data.subarray(start, Math.max(start, at)), () =>
    setTimeout(() => res.socket?.resetAndDestroy(), 20),
  );
  return true;
}

describe('glance downloadToFile when the connection is reset', () => {
  for (const [where, at] of [
    ['at the start of the body', 0],
    ['in the middle', SIZE / 2],
    ['one byte before the end', SIZE - 1],
  ] as const) {
    it(`${where}: resumed, and the destination is the complete image, its sha512 verified`, async () => {
      const image = fake.addImage({ data: randomBytes(SIZE) });
      fake.fileHook = (_req, res, img) => (first(img) ? resetAt(res, img, at) : false);
      const out = await destination();
      const result = await downloadToFile(service(), image.id, out.path, {
        retry: { minDelayMs: 1, maxDelayMs: 5 },
        computeChecksum: 'sha256',
      });
      expect(result.retries).toBe(1);
      expect(result.checksum?.value).toBe(sha256(image.data));
      expect((await readFile(out.path)).equals(image.data)).toBe(true);
      expect(await out.listing()).toEqual(['image.img']);
    });

    it(`${where}, on every attempt: ImageDownloadFailed, the destination untouched`, async () => {
      const image = fake.addImage({ data: randomBytes(SIZE) });
      fake.fileHook = (_req, res, img) => resetAt(res, img, at);
      const out = await destination();
      const error = await downloadToFile(service(), image.id, out.path, {
        retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 },
      }).catch((e: unknown) => e);
      expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed), String(error)).toBe(true);
      expect(await readFile(out.path, 'utf8')).toBe(PREVIOUS);
      expect(await out.listing()).toEqual(['image.img']);
    });
  }

  it('restarts rather than splices when the image data changes between attempts', async () => {
    const image = fake.addImage({ data: randomBytes(SIZE) });
    const replacement = randomBytes(SIZE + 5000);
    fake.fileHook = (_req, res, img) => {
      if (!first(img)) return false;
      resetAt(res, img, SIZE / 2);
      // The data is replaced (as a re-upload under the same id would), with its new digest.
      img.data = replacement;
      return true;
    };
    const out = await destination();
    const result = await downloadToFile(service(), image.id, out.path, {
      retry: { minDelayMs: 1, maxDelayMs: 5 },
      computeChecksum: 'sha256',
    });
    expect(result.checksum?.value).toBe(sha256(replacement));
    expect((await readFile(out.path)).equals(replacement)).toBe(true);
    expect(await out.listing()).toEqual(['image.img']);
  });
});

const served = new WeakSet<FakeImage>();
/** True the first time it is asked about an image, false afterwards. */
function first(image: FakeImage): boolean {
  if (served.has(image)) return false;
  served.add(image);
  return true;
}
