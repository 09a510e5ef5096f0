import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BaseImageService,
  type ImageInfo,
  type ImageStream,
  type ParallelOptions,
  type ReadRequest,
} from '../src/index.js';

const MiB = 1024 * 1024;

/** Serves `size` bytes as fresh 1 MiB buffers, so any chunk the core keeps stays counted in arrayBuffers. */
class FreshBuffers extends BaseImageService {
  readonly name = 'fresh';
  constructor(readonly size: number) {
    super();
  }
  async validateHref(): Promise<unknown> {
    return undefined;
  }
  async show(): Promise<ImageInfo> {
    return { size: this.size, updatedAt: null, properties: {} };
  }
  protected override async openRead(_href: string, request: ReadRequest): Promise<ImageStream> {
    const end = request.length === undefined ? this.size : request.offset + request.length;
    async function* body() {
      for (let at = request.offset; at < end; at += MiB) {
        yield Buffer.alloc(Math.min(MiB, end - at), 7);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return { body: body(), size: this.size, validator: 'v', rangesSupported: true };
  }
}

async function peakExternalDuring(parallel: ParallelOptions | false): Promise<number> {
  const size = 768 * MiB;
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  await new FreshBuffers(size).download('fresh://x', sink, {
    parallel,
    onProgress: () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    },
  });
  return peak;
}

describe('memory', () => {
  it('stays flat whatever the image size: no chunk is kept once written', async () => {
    expect(await peakExternalDuring(false)).toBeLessThan(256 * MiB);
  });

  it('stays bounded with parallel ranges', async () => {
    expect(await peakExternalDuring({ partSize: 8 * MiB, concurrency: 4, threshold: 0 })).toBeLessThan(
      256 * MiB,
    );
  });
});
