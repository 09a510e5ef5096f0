import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Image, makeRandomImage, sha256File } from '../src/images.js';
import { type Contender, measureThroughput } from '../src/measure.js';

let dir: string;
let image: Image;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-measure-test-'));
  image = await makeRandomImage(join(dir, 'image.img'), 3 * 1024 * 1024 + 17);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A contender that copies the image (or writes what `write` says) and reports a fixed time. */
function fake(id: string, ms: number, calls: string[], write?: (dest: string) => Promise<void>): Contender {
  return {
    id,
    label: id,
    command: id,
    kind: id === 'lib' ? 'image-service' : 'peer',
    async run(dest) {
      calls.push(id);
      await (write ? write(dest) : copyFile(image.path, dest));
      return { ms, wallMs: ms + 1, peakRssKiB: 2048 };
    },
  };
}

describe('makeRandomImage', () => {
  it('writes the size asked and returns the digest of what it wrote', async () => {
    expect(image.size).toBe(3 * 1024 * 1024 + 17);
    expect(await sha256File(image.path)).toBe(image.sha256);
    const other = await makeRandomImage(join(dir, 'other.img'), 1000);
    expect(other.sha256).not.toBe(image.sha256);
  });
});

describe('measureThroughput', () => {
  it('runs a warm-up round and interleaved rounds, keeps the measured runs and computes ratios', async () => {
    const calls: string[] = [];
    const outDir = await mkdtemp(join(dir, 'out-'));
    const result = await measureThroughput({
      id: 'case',
      title: 'case',
      description: '',
      image,
      reference: 'lib',
      rounds: 3,
      destDir: outDir,
      log: () => {},
      contenders: [fake('lib', 100, calls), fake('peer', 50, calls)],
    });
    expect(calls).toEqual(['lib', 'peer', 'peer', 'lib', 'lib', 'peer', 'peer', 'lib']);
    const [lib, peer] = result.tools;
    expect(lib?.samples).toHaveLength(3);
    expect(lib?.verifiedOutputs).toBe(1);
    expect(lib?.referenceRatio).toBe(1);
    expect(peer?.referenceRatio).toBe(0.5);
    expect(peer?.mibPerSec).toBeCloseTo(image.size / 1024 / 1024 / 0.05, 6);
    expect(lib?.peakRssMiB).toBe(2);
    expect(await readdir(outDir)).toEqual([]); // every output deleted
  });

  it('records a run that writes the wrong bytes or the wrong size as a failure, not a sample', async () => {
    const calls: string[] = [];
    const result = await measureThroughput({
      id: 'bad',
      title: 'bad',
      description: '',
      image,
      reference: 'lib',
      rounds: 2,
      destDir: dir,
      log: () => {},
      verifyAll: true,
      contenders: [
        fake('lib', 10, calls),
        fake('short', 10, calls, (dest) => writeFile(dest, 'x')),
        fake('flipped', 10, calls, async (dest) => {
          await copyFile(image.path, dest);
          const { open } = await import('node:fs/promises');
          const file = await open(dest, 'r+');
          await file.write(Buffer.from([0x5a]), 0, 1, 1234);
          await file.close();
        }),
      ],
    });
    const byId = Object.fromEntries(result.tools.map((t) => [t.id, t]));
    expect(byId.lib?.samples).toHaveLength(2);
    expect(byId.lib?.verifiedOutputs).toBe(3);
    expect(byId.short?.samples).toHaveLength(0);
    expect(byId.short?.failures[0]).toMatch(/wrote 1 bytes/);
    expect(byId.flipped?.samples).toHaveLength(0);
    expect(byId.flipped?.failures).toHaveLength(3);
    expect(byId.flipped?.failures[0]).toMatch(/SHA-256/);
    expect(byId.flipped?.mibPerSec).toBeNull();
    expect(byId.flipped?.referenceRatio).toBeNull();
  });

  it('checks only the warm-up output digest unless asked for all, but every size', async () => {
    let run = 0;
    const calls: string[] = [];
    const result = await measureThroughput({
      id: 'late',
      title: 'late',
      description: '',
      image,
      reference: 'lib',
      rounds: 2,
      destDir: dir,
      log: () => {},
      contenders: [
        fake('lib', 10, calls, async (dest) => {
          run += 1;
          await (run === 1 ? copyFile(image.path, dest) : writeFile(dest, Buffer.alloc(image.size)));
        }),
      ],
    });
    // Same size, wrong bytes after the warm-up: not caught without verifyAll (documented behaviour).
    expect(result.tools[0]?.samples).toHaveLength(2);
    expect(result.tools[0]?.verifiedOutputs).toBe(1);
  });

  it('runs a contender check and counts its failure', async () => {
    const calls: string[] = [];
    const result = await measureThroughput({
      id: 'check',
      title: 'check',
      description: '',
      image,
      reference: 'lib',
      rounds: 1,
      destDir: dir,
      log: () => {},
      contenders: [
        {
          ...fake('lib', 10, calls),
          async check() {
            throw new Error('not a hard link');
          },
        },
      ],
    });
    expect(result.tools[0]?.failures).toEqual(['warm-up: not a hard link', 'round 1: not a hard link']);
  });
});

describe('peak RSS', () => {
  it('is the highest over every run, the warm-up included', async () => {
    let run = 0;
    const result = await measureThroughput({
      id: 'rss',
      title: 'rss',
      description: '',
      image,
      reference: 'lib',
      rounds: 2,
      destDir: dir,
      log: () => {},
      contenders: [
        {
          id: 'lib',
          label: 'lib',
          command: 'lib',
          kind: 'image-service',
          async run(dest) {
            run += 1;
            await copyFile(image.path, dest);
            return { ms: 5, wallMs: 6, peakRssKiB: run === 1 ? 8192 : 1024 };
          },
        },
      ],
    });
    expect(result.tools[0]?.peakRssMiB).toBe(8);
  });
});
