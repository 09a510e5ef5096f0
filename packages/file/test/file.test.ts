import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { downloadToFile, ErrorCode, isImageServiceError } from '@image-service/core';
import { imageFromBytes, runConformance } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileImageService, fileOptionsFromEnv } from '../src/index.js';

let root: string;
let images: string;
let bytes: Buffer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-service-file-'));
  images = join(root, 'images');
  await mkdir(images);
  bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 10)) & 0xff;
  await writeFile(join(images, 'disk.img'), bytes);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const href = (path: string) => pathToFileURL(path).href;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

async function expectValidationFailure(promise: Promise<unknown>, text: string | RegExp): Promise<void> {
  const error = await rejectionOf(promise);
  expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed), String(error)).toBe(true);
  expect(error.message).toMatch(text);
}

describe('conformance', () => {
  runConformance(
    { describe, it, beforeAll, afterAll },
    {
      name: 'file driver (hard links)',
      service: () => new FileImageService(),
      existing: () => imageFromBytes(href(join(images, 'disk.img')), bytes),
      missing: 'file:///nonexistent/image-service/missing.img',
      malformed: 'file://host.example/var/lib/image.img',
      secret: {
        href: 'file://user:s3cretpw@localhost/nonexistent?token=t0kenvalue',
        secrets: ['s3cretpw', 't0kenvalue'],
      },
    },
  );
  runConformance(
    { describe, it, beforeAll, afterAll },
    {
      name: 'file driver (copies, allow-list)',
      service: () => new FileImageService({ hardLink: false, allowedPaths: [images] }),
      existing: () => imageFromBytes(href(join(images, 'disk.img')), bytes),
      missing: href('/nonexistent-dir/missing.img'),
      malformed: 'file:relative/path.img',
    },
  );
});

describe('href forms', () => {
  const service = new FileImageService();

  it('accepts file:///path and file://localhost/path, percent-decoded', async () => {
    const name = join(images, 'with space é.img');
    await writeFile(name, 'abc');
    expect((await service.show(href(name))).size).toBe(3);
    expect((await service.show(`file://localhost${pathToFileURL(name).pathname}`)).size).toBe(3);
    expect((await service.show(`FILE://${pathToFileURL(name).pathname}`)).size).toBe(3);
  });

  it('refuses another host, explaining the three-slash form', async () => {
    await expectValidationFailure(
      service.show('file://var/lib/x.img'),
      /not a host \("var"\).*three slashes/,
    );
    await expectValidationFailure(service.show('file://example.com/x.img'), /not a host/);
  });

  it('refuses queries, encoded slashes and NUL bytes', async () => {
    await expectValidationFailure(service.show(`${href(join(images, 'disk.img'))}?x=1`), /no query/);
    await expectValidationFailure(service.show('file:///tmp/a%2Fb'), /cannot be decoded/);
    await expectValidationFailure(service.show('file:///tmp/a%00b'), /NUL|cannot be decoded/);
  });

  it('normalizes .. segments before checking them', async () => {
    await expectValidationFailure(
      service.show(`file://${images}/../../../../etc/passwd`),
      /not permitted in file URLs/,
    );
    await expectValidationFailure(
      service.show(`file://${images}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd`),
      /not permitted/,
    );
  });

  it('handles names with newlines', async () => {
    const name = join(images, 'new\nline.img');
    await writeFile(name, 'x');
    expect((await service.show(href(name))).size).toBe(1);
  });
});

describe('confinement', () => {
  it.each(['/dev/zero', '/sys/kernel/notes', '/proc/self/environ', '/boot/vmlinuz', '/etc/passwd', '/run/x'])(
    'always blocks %s',
    async (path) => {
      await expectValidationFailure(
        new FileImageService().show(href(path)),
        `Security: The path ${path} is not permitted in file URLs`,
      );
    },
  );

  it('blocks symlinks that resolve into a blocked directory', async () => {
    const link = join(images, 'passwd-link.img');
    await symlink('/etc/passwd', link);
    await expectValidationFailure(
      new FileImageService().show(href(link)),
      'Security: The path /etc/passwd is not permitted',
    );
    const devLink = join(images, 'zero-link.img');
    await symlink('/dev/zero', devLink);
    await expectValidationFailure(
      new FileImageService().download(href(devLink), process.stdout),
      /not permitted/,
    );
    const chain = join(images, 'chain.img');
    await symlink(link, chain);
    await expectValidationFailure(new FileImageService().show(href(chain)), /not permitted/);
  });

  it('keeps an allow-list sibling-safe and symlink-safe', async () => {
    const allowed = join(root, 'allowed');
    const sibling = join(root, 'allowed2');
    await mkdir(allowed);
    await mkdir(sibling);
    await writeFile(join(allowed, 'ok.img'), 'ok');
    await writeFile(join(sibling, 'no.img'), 'no');
    await symlink(join(sibling, 'no.img'), join(allowed, 'escape.img'));
    await symlink(sibling, join(allowed, 'dirlink'));
    const service = new FileImageService({ allowedPaths: [allowed] });
    expect((await service.show(href(join(allowed, 'ok.img')))).size).toBe(2);
    await expectValidationFailure(
      service.show(href(join(sibling, 'no.img'))),
      'is not allowed for image source file URLs',
    );
    await expectValidationFailure(
      service.show(href(join(allowed, 'escape.img'))),
      `Path ${join(sibling, 'no.img')} is not allowed`,
    );
    await expectValidationFailure(service.show(href(join(allowed, 'dirlink', 'no.img'))), /not allowed/);
  });

  it('admits an allowed directory reached through a symlink', async () => {
    const real = join(root, 'real-allowed');
    await mkdir(real);
    await writeFile(join(real, 'a.img'), 'abcd');
    await symlink(real, join(root, 'link-allowed'));
    const service = new FileImageService({ allowedPaths: [join(root, 'link-allowed')] });
    expect((await service.show(href(join(root, 'link-allowed', 'a.img')))).size).toBe(4);
  });

  it('rejects relative allowed paths', () => {
    expect(() => new FileImageService({ allowedPaths: ['relative'] })).toThrow(TypeError);
  });
});

describe('only regular files', () => {
  const service = new FileImageService();

  it('refuses a directory', async () => {
    await expectValidationFailure(service.show(href(images)), /is a directory, not a regular file/);
  });

  it('refuses a FIFO without hanging', async () => {
    const fifo = join(root, 'fifo.img');
    execFileSync('mkfifo', [fifo]);
    await expectValidationFailure(service.show(href(fifo)), /is a FIFO/);
    await expectValidationFailure(service.download(href(fifo), process.stdout), /is a FIFO/);
  });

  it('refuses a socket', async () => {
    const path = join(root, 'sock.img');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await expectValidationFailure(service.show(href(path)), /is a socket/);
    } finally {
      server.close();
    }
  });

  it('refuses a device node outside /dev', async () => {
    const path = join(root, 'null.img');
    execFileSync('mknod', [path, 'c', '1', '3']);
    await expectValidationFailure(service.show(href(path)), /is a device/);
  });

  it("reports a missing file with the reference's reason", async () => {
    await expectValidationFailure(
      service.show(href(join(images, 'nope.img'))),
      'Specified image file not found.',
    );
  });
});

describe('show', () => {
  it('reports size, the mtime in UTC, empty properties and noCache', async () => {
    const path = join(images, 'dated.img');
    await writeFile(path, 'hello');
    const when = new Date('2014-11-15T08:12:31Z');
    await utimes(path, when, when);
    expect(await new FileImageService().show(href(path))).toEqual({
      size: 5,
      updatedAt: when,
      properties: {},
      noCache: true,
    });
  });
});

describe('downloadToFile', () => {
  it('hard links the image when it can (the reference behaviour)', async () => {
    const dest = join(root, 'linked.img');
    const result = await downloadToFile(new FileImageService(), href(join(images, 'disk.img')), dest, {
      computeChecksum: 'sha256',
    });
    expect(result.checksum?.value).toBe(sha256(bytes));
    expect((await stat(dest)).ino).toBe((await stat(join(images, 'disk.img'))).ino);
  });

  it('copies when hard links are off', async () => {
    const dest = join(root, 'copied.img');
    await downloadToFile(new FileImageService({ hardLink: false }), href(join(images, 'disk.img')), dest);
    expect((await stat(dest)).ino).not.toBe((await stat(join(images, 'disk.img'))).ino);
    expect(sha256(await readFile(dest))).toBe(sha256(bytes));
  });

  it('copies across filesystems', async () => {
    const shm = await mkdtemp('/dev/shm/image-service-');
    try {
      const dest = join(shm, 'x.img');
      await downloadToFile(new FileImageService(), href(join(images, 'disk.img')), dest);
      expect(sha256(await readFile(dest))).toBe(sha256(bytes));
      expect((await stat(dest)).ino).not.toBe((await stat(join(images, 'disk.img'))).ino);
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });

  it('leaves an existing destination untouched when the checksum does not match', async () => {
    const dir = await mkdtemp(join(root, 'fail-'));
    const dest = join(dir, 'out.img');
    await writeFile(dest, 'keep me');
    const error = await rejectionOf(
      downloadToFile(new FileImageService(), href(join(images, 'disk.img')), dest, {
        checksum: { algorithm: 'sha256', value: 'f'.repeat(64) },
      }),
    );
    expect(isImageServiceError(error, ErrorCode.ImageChecksumError)).toBe(true);
    expect(await readFile(dest, 'utf8')).toBe('keep me');
    expect(await readdir(dir)).toEqual(['out.img']);
    expect(sha256(await readFile(join(images, 'disk.img')))).toBe(sha256(bytes));
  });

  it('streams through download() into any writable', async () => {
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const out = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const result = await new FileImageService().download(href(join(images, 'disk.img')), out);
    expect(result.bytes).toBe(bytes.length);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(bytes));
  });
});

describe('fileOptionsFromEnv', () => {
  it('reads the allow-list and the hard-link switch', () => {
    expect(
      fileOptionsFromEnv({ IMAGE_SERVICE_FILE_ALLOWED_PATHS: '/a:/b', IMAGE_SERVICE_FILE_HARD_LINK: '0' }),
    ).toEqual({
      allowedPaths: ['/a', '/b'],
      hardLink: false,
    });
    expect(fileOptionsFromEnv({})).toEqual({});
  });
});
