import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const trace = fileURLToPath(new URL('./fixtures/trace.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, cli, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

let dir: string;
let image: string;
let href: string;
let sha256: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-cli-'));
  image = join(dir, 'disk.img');
  const bytes = randomBytes(2 * 1024 * 1024 + 5);
  sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(image, bytes);
  href = pathToFileURL(image).href;
});

describe('image-service command', () => {
  it('prints help and its version', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: image-service <command>');
    const version = await run(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists the schemes', async () => {
    const result = await run(['schemes', '--json']);
    expect(JSON.parse(result.stdout)).toEqual(['file', 'glance', 'http', 'https', 's3']);
  });

  it('shows a file image as text and as JSON', async () => {
    const text = await run(['show', href]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`size        ${2 * 1024 * 1024 + 5}`);
    const json = await run(['show', href, '--json']);
    const info = JSON.parse(json.stdout);
    expect(info.size).toBe(2 * 1024 * 1024 + 5);
    expect(Number.isNaN(Date.parse(info.updatedAt))).toBe(false);
    expect(info.noCache).toBe(true);
  });

  it('downloads with a verified checksum and plain progress lines when not on a terminal', async () => {
    const dest = join(dir, 'copy.img');
    const result = await run(['download', href, dest, '--no-hard-link', '--checksum', `sha256:${sha256}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`sha256:${sha256} (verified)`);
    expect(result.stderr).toMatch(/100%/);
    expect(result.stderr).not.toContain('\r');
    expect(
      createHash('sha256')
        .update(await readFile(dest))
        .digest('hex'),
    ).toBe(sha256);
  });

  it('exits 1 with one line naming the code on a checksum mismatch, leaving the destination untouched', async () => {
    const dest = join(dir, 'keep.img');
    await writeFile(dest, 'keep');
    const result = await run([
      'download',
      href,
      dest,
      '--checksum',
      `sha256:${'0'.repeat(64)}`,
      '--no-progress',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^image-service: IMAGE_CHECKSUM_ERROR: /);
    expect(await readFile(dest, 'utf8')).toBe('keep');
    expect((await readdir(dir)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  it('exits 1 for a missing image and for an unsupported scheme', async () => {
    const missing = await run(['show', pathToFileURL(join(dir, 'nope.img')).href]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('IMAGE_REF_VALIDATION_FAILED');
    expect(missing.stderr).toContain('Specified image file not found.');
    const gopher = await run(['show', 'gopher://x/y']);
    expect(gopher.code).toBe(1);
    expect(gopher.stderr).toContain('Image download protocol gopher is not supported.');
  });

  it('exits 2 on bad usage', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['show'],
      ['download', href],
      ['show', href, '--bogus'],
      ['download', href, join(dir, 'x'), '--checksum', 'nope'],
      ['download', href, join(dir, 'x'), '--retries', 'many'],
    ]) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('Usage: image-service');
    }
  });

  it('honours the file allow-list flag', async () => {
    const result = await run(['show', href, '--allowed-path', join(dir, 'elsewhere')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not allowed for image source file URLs');
  });

  it('never prints a credential from the href', async () => {
    const result = await run(
      ['show', 'http://alice:pa55w0rdXYZ@127.0.0.1:9/img?X-Amz-Signature=sig123456&token=tok987654'],
      {
        IMAGE_SERVICE_HTTP_RETRIES: '0',
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/pa55w0rdXYZ|sig123456|tok987654/);
    expect(result.stderr).toContain('alice:***@127.0.0.1');
  });

  it('loads no other driver and none of their dependencies to show a file image', async () => {
    const traceFile = join(dir, 'trace.txt');
    await writeFile(traceFile, '');
    const result = await run(['show', href], { IMAGE_SERVICE_TRACE_FILE: traceFile }, [
      '--import',
      pathToFileURL(trace).href,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const loaded = await readFile(traceFile, 'utf8');
    expect(loaded).toContain('/file/dist/index.js');
    for (const heavy of [
      '@aws-sdk',
      '@smithy',
      'undici',
      'yaml',
      '/http/dist/',
      '/s3/dist/',
      '/glance/dist/',
    ]) {
      expect(loaded, heavy).not.toContain(heavy);
    }
  });
});
