import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { libraryContender } from '../contenders.js';
import type { BenchContext } from '../context.js';
import { type Image, makeRandomImage } from '../images.js';
import { measureThroughput } from '../measure.js';
import { formatBytes } from '../stats.js';
import type { MemoryCase } from '../types.js';
import { serveImage } from './http.js';

/** Runs per image size (after a warm-up run that also checks the digest). */
const RUNS = 2;

/**
 * Peak RSS of image-service's library downloading the main image and a large one (default 4 GiB, full mode only) over
 * http, each in a fresh Node process measured by GNU time.
 */
export async function memoryCase(context: BenchContext): Promise<MemoryCase> {
  const images: Image[] = [context.image];
  const big = context.options.bigSize;
  const memory: MemoryCase = { results: [], runs: [] };
  if (big !== null) {
    const path = join(context.workDir, 'big.img');
    console.error(`[memory] writing a ${formatBytes(big)} random image`);
    images.push(await makeRandomImage(path, big));
    context.cleanup.add(`remove ${path}`, () => rm(path, { force: true }));
  }
  for (const image of images) {
    const url = await serveImage(
      context,
      image.path,
      `image-service-bench-memory-${process.pid}-${image.size}.img`,
    );
    const id = `memory-${formatBytes(image.size).replace(' ', '')}`;
    const result = await measureThroughput({
      id,
      title: `memory: ${formatBytes(image.size)} over http`,
      description: `Peak RSS of the library downloading a ${formatBytes(image.size)} image over http.`,
      image,
      reference: 'image-service',
      rounds: RUNS,
      destDir: context.destDir,
      verifyAll: false,
      contenders: [
        libraryContender(context, { id: 'image-service', label: 'image-service library', href: url }),
      ],
    });
    memory.runs.push(result);
    const row = result.tools[0];
    memory.results.push({
      bytes: image.size,
      runs: row?.samples.length ?? 0,
      peakRssMiB: row?.peakRssMiB ?? null,
      mibPerSec: row?.mibPerSec ?? Number.NaN,
    });
    if (image !== context.image) await rm(image.path, { force: true });
  }
  return memory;
}
