/**
 * The bench's child process for in-process measurements, so that each runs in a fresh Node process whose peak RSS
 * GNU time can measure. Usage: `node runner.js '<json spec>'`; prints one JSON line.
 *
 * - `{"op":"download","href","dest","options"}`: image-service's `downloadToFile`, timed around the call alone.
 * - `{"op":"pipeline","url","dest"}`: the naive baseline, `pipeline(undici body, fs.createWriteStream(dest))`.
 * - `{"op":"show","href","calls","warmup"}`: `show` latencies (ms) on one service, its connection kept alive.
 */
import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DownloadToFileOptions, downloadToFile, getImageService } from 'image-service';

type Spec =
  | { op: 'download'; href: string; dest: string; options?: DownloadToFileOptions }
  | { op: 'pipeline'; url: string; dest: string }
  | { op: 'show'; href: string; calls: number; warmup: number };

interface Undici {
  request(url: string): Promise<{ statusCode: number; body: Readable }>;
}

/** undici as the http driver resolves it (the bench adds no dependency of its own). */
function undici(): Undici {
  const from = createRequire(import.meta.resolve('@image-service/http'));
  return from('undici') as Undici;
}

async function main(): Promise<unknown> {
  const spec = JSON.parse(process.argv[2] ?? '') as Spec;
  switch (spec.op) {
    case 'download': {
      const service = await getImageService(spec.href);
      const started = performance.now();
      const result = await downloadToFile(service, spec.href, spec.dest, spec.options ?? {});
      return { ms: performance.now() - started, bytes: result.bytes, checksum: result.checksum };
    }
    case 'pipeline': {
      const { request } = undici();
      const started = performance.now();
      const response = await request(spec.url);
      if (response.statusCode !== 200) throw new Error(`GET ${spec.url}: ${response.statusCode}`);
      await pipeline(response.body, createWriteStream(spec.dest));
      return { ms: performance.now() - started };
    }
    case 'show': {
      const service = await getImageService(spec.href);
      const samples: number[] = [];
      let size = 0;
      for (let i = 0; i < spec.warmup + spec.calls; i++) {
        const started = performance.now();
        const info = await service.show(spec.href);
        const ms = performance.now() - started;
        if (i >= spec.warmup) samples.push(ms);
        size = info.size;
      }
      return { samples, size };
    }
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // The http driver's kept-alive connections would hold the process open for their idle timeout.
    process.exit(0);
  },
  (error) => {
    process.stderr.write(`runner: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
