import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { downloadToFile, ErrorCode, isImageServiceError } from '@image-service/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';
import { HttpImageService } from '../src/index.js';
import { bytesOf, sha256 } from './helpers.js';

/**
 * Load and leaks against real nginx: hundreds of concurrent requests and dozens of concurrent downloads all succeed, and
 * afterwards the process holds the descriptors, sockets, timers and memory it held before.
 *
 * Sockets: the driver keeps connections alive for reuse, so right after a burst the agent holds idle sockets. They are
 * released when the agent's keep-alive timeout (undici's default, 4 s, as nginx sends no Keep-Alive hint) passes, or at
 * once by `service.close()`. The tests check both.
 */

const nginx = peer<{ httpUrl: string; docroot: string }>('nginx');
const prefix = `load-${process.pid}-${randomBytes(3).toString('hex')}`;
const IMAGE = bytesOf(4 * 1024 * 1024, 404);
const DIGEST = { algorithm: 'sha256' as const, value: sha256(IMAGE) };
const name = `${prefix}.img`;
const href = `${nginx.httpUrl}/${name}`;
const crawling = `${nginx.httpUrl}/crawl/${name}`;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let scratch = '';
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'image-service-load-'));
  await writeFile(join(nginx.docroot, name), IMAGE);
});
afterAll(async () => {
  await rm(join(nginx.docroot, name), { force: true });
  await rm(scratch, { recursive: true, force: true });
});

/** What the process holds now. */
function snapshot() {
  const fds = readdirSync('/proc/self/fd');
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) sockets += 1;
    } catch {
      // Closed while listing (the listing's own descriptor).
    }
  }
  const resources = process.getActiveResourcesInfo();
  gc();
  gc();
  const memory = process.memoryUsage();
  return {
    fds: fds.length,
    sockets,
    timers: resources.filter((type) => type === 'Timeout').length,
    fileHandles: resources.filter((type) => type === 'FileHandle' || type === 'FSReqCallback').length,
    tcp: resources.filter((type) => type === 'TCPSocketWrap').length,
    heapAndBuffers: memory.heapUsed + memory.arrayBuffers,
    rss: memory.rss,
  };
}

type Snapshot = ReturnType<typeof snapshot>;

/** Polls until `check` passes on a fresh snapshot, up to `ms`; returns the last snapshot. */
async function settle(check: (now: Snapshot) => boolean, ms: number): Promise<Snapshot> {
  let now = snapshot();
  for (let waited = 0; !check(now) && waited < ms; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    now = snapshot();
  }
  return now;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

describe('load and leaks against nginx', () => {
  it('200 concurrent show and 50 concurrent downloadToFile all succeed; descriptors, sockets and memory return', async () => {
    // Warm up: load the modules and let the first allocations happen before the baseline.
    const warm = new HttpImageService({ proxy: false });
    await warm.show(href);
    await downloadToFile(warm, href, join(scratch, 'warm.img'));
    await warm.close();
    await rm(join(scratch, 'warm.img'));
    const before = await settle((now) => now.tcp === 0, 5000);

    const service = new HttpImageService({ proxy: false });
    const shown = await Promise.all(Array.from({ length: 200 }, () => service.show(href)));
    expect(shown.every((info) => info.size === IMAGE.length)).toBe(true);

    const dir = await mkdtemp(join(scratch, 'many-'));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        downloadToFile(service, href, join(dir, `image-${index}.img`), { checksum: DIGEST }),
      ),
    );
    expect(
      results.every((result) => result.bytes === IMAGE.length && result.checksum?.value === DIGEST.value),
    ).toBe(true);
    expect((await readdir(dir)).length).toBe(50);
    const busy = snapshot();

    // Left alone, the idle keep-alive connections go after undici's keep-alive timeout.
    const idle = await settle((now) => now.sockets <= before.sockets, 10_000);
    expect(idle.sockets).toBe(before.sockets);
    await service.close();
    await rm(dir, { recursive: true });
    const after = await settle((now) => now.fds <= before.fds && now.timers <= before.timers, 3000);
    console.info(
      `load: sockets ${before.sockets} -> ${busy.sockets} (busy) -> ${after.sockets}; fds ${before.fds} -> ${busy.fds} ` +
        `-> ${after.fds}; heap+buffers ${mib(before.heapAndBuffers)} -> ${mib(busy.heapAndBuffers)} -> ` +
        `${mib(after.heapAndBuffers)}; rss ${mib(before.rss)} -> ${mib(busy.rss)} -> ${mib(after.rss)}`,
    );
    expect(after.fds).toBe(before.fds);
    expect(after.sockets).toBe(before.sockets);
    expect(after.tcp).toBe(0);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
    expect(after.fileHandles).toBeLessThanOrEqual(before.fileHandles);
    // Generous bounds: 50 downloads of 4 MiB went through; none of it may stay reachable.
    expect(after.heapAndBuffers - before.heapAndBuffers).toBeLessThan(64 * MiB);
    // RSS only loosely: the allocator keeps freed pages (50 downloads in flight each held a file-write batch).
    expect(after.rss - before.rss).toBeLessThan(512 * MiB);
  });

  it('100 aborted downloads in a row leave no descriptor, socket, timer or temporary file behind', async () => {
    const service = new HttpImageService({ proxy: false });
    await service.show(crawling);
    await service.close();
    const before = await settle((now) => now.tcp === 0, 5000);

    const dir = await mkdtemp(join(scratch, 'aborted-'));
    const aborted = new HttpImageService({ proxy: false });
    for (let index = 0; index < 100; index++) {
      const controller = new AbortController();
      // Abort at different moments: before the response, at the first bytes, and a little way into the body.
      const when = index % 3;
      if (when === 0) setImmediate(() => controller.abort());
      if (when === 2) setTimeout(() => controller.abort(), 30);
      const error = await downloadToFile(aborted, crawling, join(dir, 'image.img'), {
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (when === 1 && bytes > 0) controller.abort();
        },
      }).then(
        () => new Error('the download finished before it was aborted'),
        (caught: unknown) => caught,
      );
      expect(isImageServiceError(error, ErrorCode.ImageOperationAborted), String(error)).toBe(true);
    }
    expect(await readdir(dir)).toEqual([]);

    // Without close(): the aborted connections are gone, and the idle ones go with the keep-alive timeout.
    const after = await settle(
      (now) => now.sockets <= before.sockets && now.fds <= before.fds && now.timers <= before.timers,
      10_000,
    );
    console.info(
      `aborts: sockets ${before.sockets} -> ${after.sockets}; fds ${before.fds} -> ${after.fds}; ` +
        `timers ${before.timers} -> ${after.timers}; heap+buffers ${mib(before.heapAndBuffers)} -> ${mib(after.heapAndBuffers)}`,
    );
    expect(after.sockets).toBe(before.sockets);
    expect(after.fds).toBe(before.fds);
    expect(after.tcp).toBe(0);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
    expect(after.fileHandles).toBeLessThanOrEqual(before.fileHandles);
    expect(after.heapAndBuffers - before.heapAndBuffers).toBeLessThan(32 * MiB);
    await aborted.close();
    await rm(dir, { recursive: true });
  });
});
