import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/** A test image on disk and what its bytes must be. */
export interface Image {
  /** Its path. */
  path: string;
  /** Its size in bytes. */
  size: number;
  /** The hex SHA-256 of its bytes. */
  sha256: string;
}

const CHUNK = 8 * 1024 * 1024;

/**
 * Writes `size` random bytes to `path` (an AES-256-CTR keystream under a random key: incompressible, and fast enough
 * for multi-GiB images) and returns the image with its SHA-256.
 */
export async function makeRandomImage(path: string, size: number): Promise<Image> {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(CHUNK);
  const file = await open(path, 'wx', 0o644);
  try {
    let written = 0;
    while (written < size) {
      const length = Math.min(CHUNK, size - written);
      const chunk = cipher.update(length === CHUNK ? zeros : zeros.subarray(0, length));
      hash.update(chunk);
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset, written + offset);
        offset += bytesWritten;
      }
      written += length;
    }
  } finally {
    await file.close();
  }
  return { path, size, sha256: hash.digest('hex') };
}

/** The hex SHA-256 of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** How fast this process hashes with each algorithm, in MiB/s (256 MiB each, on the calling thread). */
export function hashSpeeds(
  algorithms: readonly string[] = ['md5', 'sha1', 'sha256', 'sha512'],
): Record<string, number> {
  const chunk = randomBytes(CHUNK);
  const rounds = 32;
  const speeds: Record<string, number> = {};
  for (const algorithm of algorithms) {
    const hash = createHash(algorithm);
    const started = performance.now();
    for (let i = 0; i < rounds; i++) hash.update(chunk);
    hash.digest();
    speeds[algorithm] = (rounds * CHUNK) / (1024 * 1024) / ((performance.now() - started) / 1000);
  }
  return speeds;
}
