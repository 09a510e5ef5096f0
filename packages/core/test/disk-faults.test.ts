import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadToFile, ErrorCode, isImageServiceError } from '../src/index.js';
import { MemoryImageService, randomImage, rejectionOf } from './memory-service.js';

/** Faults a real filesystem produces: these tests mount small tmpfs filesystems, so they run as root (as CI does). */
const mounts: string[] = [];

async function tmpfs(sizeBytes: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-service-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of mounts.splice(0)) {
    execFileSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('downloadToFile under disk faults', () => {
  it('a full disk: typed error naming ENOSPC, the existing file untouched, no temporary file left', async () => {
    const dir = await tmpfs(1024 * 1024);
    const dest = join(dir, 'image.img');
    await writeFile(dest, 'previous image');
    const error = await rejectionOf(
      downloadToFile(new MemoryImageService(randomImage(3 * 1024 * 1024).bytes, 64 * 1024), 'mem://i', dest),
    );
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed), String(error)).toBe(true);
    expect(error.message).toContain('ENOSPC');
    expect(await readFile(dest, 'utf8')).toBe('previous image');
    expect(await readdir(dir)).toEqual(['image.img']);
  });

  it('a read-only destination: typed error, the existing file untouched', async () => {
    const dir = await tmpfs(1024 * 1024);
    const dest = join(dir, 'image.img');
    await writeFile(dest, 'previous image');
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const error = await rejectionOf(
      downloadToFile(new MemoryImageService(randomImage(1000).bytes), 'mem://i', dest),
    );
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(error.message).toContain('is not writable (EROFS)');
    expect(await readFile(dest, 'utf8')).toBe('previous image');
    expect(await readdir(dir)).toEqual(['image.img']);
  });

  it('a destination directory that disappears mid-download: typed error, nothing left behind', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'image-service-vanish-'));
    const dir = join(parent, 'dest');
    await mkdir(dir);
    let removed = false;
    const error = await rejectionOf(
      downloadToFile(
        new MemoryImageService(randomImage(2 * 1024 * 1024).bytes, 64 * 1024),
        'mem://i',
        join(dir, 'x.img'),
        {
          onProgress: ({ bytes }) => {
            if (!removed && bytes > 512 * 1024) {
              removed = true;
              execFileSync('rm', ['-rf', dir]);
            }
          },
        },
      ),
    );
    expect(removed).toBe(true);
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(await readdir(parent)).toEqual([]);
  });
});

describe('process death', () => {
  it('a download killed with SIGKILL leaves only its named temporary file, which the next download removes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'image-service-kill-'));
    const dest = join(dir, 'image.img');
    const script = fileURLToPath(new URL('./fixtures/killable-download.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, dest], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data: Buffer) => {
        if (data.toString().includes('started')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the download exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const left = await readdir(dir);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(
      new RegExp(`^\\.image\\.img\\.${child.pid}\\.[0-9a-f]{8}\\.image-service-partial$`),
    );
    const image = randomImage(10_000);
    await downloadToFile(new MemoryImageService(image.bytes), 'mem://i', dest);
    expect(await readdir(dir)).toEqual(['image.img']);
  });
});
