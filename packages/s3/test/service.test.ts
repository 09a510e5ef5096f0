import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  downloadToFile,
  type ImageServiceError,
  ImageServiceRegistry,
  isImageServiceError,
  logSink,
  type ReadRequest,
} from '@image-service/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { register, S3ImageService, type S3ImageStream } from '../src/index.js';
import { FakeS3 } from './fake-s3.js';

class Exposed extends S3ImageService {
  open(
    imageHref: string,
    request: Omit<ReadRequest, 'signal'> & { signal?: AbortSignal },
  ): Promise<S3ImageStream> {
    return this.openRead(imageHref, { signal: new AbortController().signal, ...request });
  }
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts);
}

function memoryWritable(): Writable & { data: () => Buffer } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  return Object.assign(stream, { data: () => Buffer.concat(parts) });
}

async function rejection(promise: Promise<unknown>): Promise<ImageServiceError> {
  try {
    await promise;
  } catch (error) {
    expect(isImageServiceError(error)).toBe(true);
    return error as ImageServiceError;
  }
  throw new Error('it resolved');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3-service-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('show', () => {
  it('reports size, last change, ETag and properties from HeadObject', async () => {
    const fake = new FakeS3();
    fake.put('images', 'os/disk one.img', 'hello world', {
      metadata: { owner: 'ops', release: '12' },
      contentType: 'application/x-raw-disk-image',
      storageClass: 'STANDARD_IA',
      versionId: 'v1',
    });
    const service = new S3ImageService({ client: fake.client() });
    const info = await service.show('s3://images/os/disk%20one.img?versionId=v1');
    expect(info).toMatchObject({
      size: 11,
      updatedAt: new Date('2026-01-02T03:04:05Z'),
      etag: '"5eb63bbbe01eeed093cb22bb8f5acdc3"',
      properties: {
        contentType: 'application/x-raw-disk-image',
        storageClass: 'STANDARD_IA',
        versionId: 'v1',
        metadata: { owner: 'ops', release: '12' },
      },
    });
    expect(info.checksum).toBeUndefined();
    const head = fake.requests[0];
    expect(head).toMatchObject({
      method: 'HEAD',
      bucket: 'images',
      key: 'os/disk one.img',
      query: { versionId: 'v1' },
    });
    expect(head?.headers['x-amz-checksum-mode']).toBe('ENABLED');
    expect(await service.validateHref('s3://images/os/disk%20one.img')).toMatchObject({ size: 11 });
  });

  it("reports the store's full-object SHA-256, but not a composite one", async () => {
    const fake = new FakeS3();
    const data = Buffer.from('disk bytes');
    const digest = createHash('sha256').update(data);
    const base64 = digest.copy().digest('base64');
    fake.put('images', 'full', data, { checksumSha256: base64, checksumType: 'FULL_OBJECT' });
    fake.put('images', 'composite', data, { checksumSha256: `${base64}-3`, checksumType: 'COMPOSITE' });
    const service = new S3ImageService({ client: fake.client() });
    expect((await service.show('s3://images/full')).checksum).toEqual({
      algorithm: 'sha256',
      value: sha256(data),
    });
    expect((await service.show('s3://images/composite')).checksum).toBeUndefined();
  });

  it('reports a digest the user metadata carries', async () => {
    const fake = new FakeS3();
    const data = Buffer.from('disk bytes');
    fake.put('images', 'hex', data, { metadata: { sha256: sha256(data).toUpperCase() } });
    fake.put('images', 'b64', data, {
      metadata: { sha256: createHash('sha256').update(data).digest('base64') },
    });
    fake.put('images', 'tagged', data, {
      metadata: { checksum: `sha512:${createHash('sha512').update(data).digest('hex')}` },
    });
    fake.put('images', 'junk', data, { metadata: { sha256: 'not-a-digest' } });
    const service = new S3ImageService({ client: fake.client() });
    expect((await service.show('s3://images/hex')).checksum).toEqual({
      algorithm: 'sha256',
      value: sha256(data),
    });
    expect((await service.show('s3://images/b64')).checksum).toEqual({
      algorithm: 'sha256',
      value: sha256(data),
    });
    expect((await service.show('s3://images/tagged')).checksum?.algorithm).toBe('sha512');
    expect((await service.show('s3://images/junk')).checksum).toBeUndefined();
  });

  it('says whether the bucket or the key is missing, though a HEAD answer has no body', async () => {
    const fake = new FakeS3();
    fake.put('images', 'present', 'x');
    const service = new S3ImageService({ client: fake.client() });
    const noBucket = await rejection(service.show('s3://nothere/key'));
    expect(noBucket.code).toBe('IMAGE_NOT_FOUND');
    expect(noBucket.reason).toMatch(/the bucket "nothere" does not exist \(NoSuchBucket, HTTP 404/);
    const noKey = await rejection(service.show('s3://images/absent/key'));
    expect(noKey.code).toBe('IMAGE_NOT_FOUND');
    expect(noKey.reason).toMatch(/the key "absent\/key" in bucket "images" does not exist \(NoSuchKey/);
    const noVersion = await rejection(service.show('s3://images/present?versionId=zzz'));
    expect(noVersion.code).toBe('IMAGE_NOT_FOUND');
    expect(noVersion.reason).toMatch(/version "zzz" of the key "present"/);
    expect(isImageServiceError(noKey, 'IMAGE_REF_VALIDATION_FAILED')).toBe(true);
  });

  it('hides bucket and key when validateHref is told the href is secret', async () => {
    const fake = new FakeS3();
    const service = new S3ImageService({ client: fake.client() });
    const error = await rejection(service.validateHref('s3://privatebucket/private/key', { secret: true }));
    expect(error.code).toBe('IMAGE_NOT_FOUND');
    expect(`${error.message} ${error.reason} ${JSON.stringify(error)}`).not.toMatch(
      /privatebucket|private\/key/,
    );
  });

  it('maps refusals to ImageNotAuthorized with the reason the store gave', async () => {
    const fake = new FakeS3();
    fake.put('images', 'disk', 'x');
    const unknown = new S3ImageService({
      client: fake.client({
        accessKeyId: 'AKIAUNKNOWNUNKNOWN00',
        secretAccessKey: 'unknown-secret-value-000',
      }),
    });
    const error = await rejection(unknown.show('s3://images/disk'));
    expect(error.code).toBe('IMAGE_NOT_AUTHORIZED');
    expect(error.reason).toMatch(/does not know the access key id \(InvalidAccessKeyId, HTTP 403/);
    const wrongSecret = new S3ImageService({
      client: fake.client({ accessKeyId: 'AKIAFAKEWRONGSECRET0', secretAccessKey: 'wrong-secret-value-000' }),
    });
    const signature = await rejection(wrongSecret.show('s3://images/disk'));
    expect(signature.code).toBe('IMAGE_NOT_AUTHORIZED');
    expect(signature.reason).toMatch(/secret access key is wrong \(SignatureDoesNotMatch/);
    fake.fault = () => ({ status: 403, code: 'AccessDenied', message: 'Access Denied' });
    const denied = await rejection(new S3ImageService({ client: fake.client() }).show('s3://images/disk'));
    expect(denied.code).toBe('IMAGE_NOT_AUTHORIZED');
    expect(denied.reason).toMatch(/denied access \(AccessDenied/);
  });

  it('never shows an access key, secret, token or signature, in errors or debug logs', async () => {
    vi.stubEnv('IMAGE_SERVICE_DEBUG', 'image-service:s3');
    const lines: string[] = [];
    const write = logSink.write;
    logSink.write = (line) => lines.push(line);
    try {
      const fake = new FakeS3();
      fake.put('images', 'disk', 'x');
      const credentials = {
        accessKeyId: 'AKIAFAKEWRONGSECRET0',
        secretAccessKey: 'wrong-secret-value-000',
        sessionToken: 'session-token-value-000',
      };
      const service = new S3ImageService({ client: fake.client(credentials) });
      const errors = [
        await rejection(service.show('s3://images/disk')),
        await rejection(service.download('s3://images/disk', memoryWritable(), { retry: false })),
      ];
      const signature = /Signature=([0-9a-f]{64})/.exec(fake.requests[0]?.headers.authorization ?? '')?.[1];
      expect(signature).toBeDefined();
      for (const error of errors) {
        const cause = error.cause as Error & Record<string, unknown>;
        const text = [
          error.message,
          error.reason,
          JSON.stringify(error),
          String(error.stack),
          cause.message,
          String(cause.stack),
          JSON.stringify(cause),
          ...lines,
        ].join('\n');
        for (const secret of [...Object.values(credentials), signature ?? ''])
          expect(text).not.toContain(secret);
        expect(cause).not.toHaveProperty('AWSAccessKeyId');
        expect(cause).not.toHaveProperty('$response');
        expect(cause).toMatchObject({ code: 'SignatureDoesNotMatch', statusCode: 403 });
      }
      expect(lines.length).toBeGreaterThan(0);
    } finally {
      logSink.write = write;
      vi.unstubAllEnvs();
    }
  });

  it('is a transient ImageRefValidationFailed when the store keeps failing after the SDK retries', async () => {
    const fake = new FakeS3();
    fake.put('images', 'disk', 'x');
    fake.fault = () => ({ status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' });
    const error = await rejection(
      new S3ImageService({ client: fake.client(undefined, 2) }).show('s3://images/disk'),
    );
    expect(error.code).toBe('IMAGE_REF_VALIDATION_FAILED');
    expect(error.transient).toBe(true);
    expect(fake.requests.filter((r) => r.method === 'HEAD')).toHaveLength(2);
  });

  it('says no credentials were found when the SDK chain has none', async () => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (/^AWS_/.test(name)) delete process.env[name];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    try {
      const service = new S3ImageService({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' });
      const error = await rejection(service.show('s3://images/disk'));
      expect(error.code).toBe('IMAGE_NOT_AUTHORIZED');
      expect(error.reason).toMatch(/no AWS credentials were found.*CredentialsProviderError/);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('is a transient error when the endpoint cannot be reached', async () => {
    const service = new S3ImageService({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-real-secret' },
    });
    const shown = await rejection(service.show('s3://images/disk'));
    expect(shown).toMatchObject({ code: 'IMAGE_REF_VALIDATION_FAILED', transient: true });
    expect(shown.reason).toMatch(/ECONNREFUSED/);
    const downloaded = await rejection(
      service.download('s3://images/disk', memoryWritable(), { retry: false }),
    );
    expect(downloaded).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', transient: true });
  });

  it('rejects with ImageOperationAborted when the signal fires', async () => {
    const fake = new FakeS3();
    fake.put('images', 'disk', 'x');
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(
      new S3ImageService({ client: fake.client() }).show('s3://images/disk', controller),
    );
    expect(error.code).toBe('IMAGE_OPERATION_ABORTED');
  });
});

describe('openRead', () => {
  const data = randomBytes(300_000);
  const fake = new FakeS3();
  const object = fake.put('images', 'disk.img', data);
  const service = new Exposed({ client: fake.client() });

  it('returns the whole object without a Range, with size, validator and rangesSupported', async () => {
    const stream = await service.open('s3://images/disk.img', { offset: 0 });
    expect(stream).toMatchObject({ size: data.length, validator: object.etag, rangesSupported: true });
    expect((await collect(stream.body)).equals(data)).toBe(true);
    expect(fake.requests.at(-1)?.headers.range).toBeUndefined();
  });

  it('returns exactly [offset, offset + length), pinned with If-Match', async () => {
    const stream = await service.open('s3://images/disk.img', {
      offset: 1000,
      length: 70_000,
      validator: object.etag,
    });
    expect(stream.size).toBe(data.length);
    expect((await collect(stream.body)).equals(data.subarray(1000, 71_000))).toBe(true);
    expect(fake.requests.at(-1)?.headers).toMatchObject({
      range: 'bytes=1000-70999',
      'if-match': object.etag,
    });
    const head = await service.open('s3://images/disk.img', { offset: 0, length: 10 });
    expect((await collect(head.body)).equals(data.subarray(0, 10))).toBe(true);
    const tail = await service.open('s3://images/disk.img', { offset: 299_990 });
    expect((await collect(tail.body)).equals(data.subarray(299_990))).toBe(true);
    expect(fake.requests.at(-1)?.headers.range).toBe('bytes=299990-');
  });

  it('fails a range of another version of the object with a restartable error', async () => {
    const error = await rejection(
      service.open('s3://images/disk.img', { offset: 10, validator: '"other-etag"' }),
    );
    expect(error).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', mustRestart: true, transient: true });
    expect(error.reason).toMatch(/changed during the download.*PreconditionFailed, HTTP 412/);
  });

  it('refuses to resume when the store ignores the Range header', async () => {
    const ignoring = new FakeS3();
    ignoring.put('images', 'disk.img', data);
    const original = ignoring.handle.bind(ignoring);
    ignoring.handle = (request) => original({ ...request, headers: { ...request.headers, range: '' } });
    const error = await rejection(
      new Exposed({ client: ignoring.client() }).open('s3://images/disk.img', { offset: 5 }),
    );
    expect(error.reason).toMatch(/ignored the Range header/);
  });
});

describe('download', () => {
  it('streams the object and verifies the digest the store publishes', async () => {
    const fake = new FakeS3();
    const data = randomBytes(1_000_000);
    fake.put('images', 'disk.img', data, { metadata: { sha256: sha256(data) } });
    const out = memoryWritable();
    const result = await new S3ImageService({ client: fake.client() }).download('s3://images/disk.img', out);
    expect(result).toMatchObject({
      bytes: data.length,
      checksum: { algorithm: 'sha256', value: sha256(data) },
    });
    expect(out.data().equals(data)).toBe(true);
  });

  it('fails with ImageChecksumError when the bytes do not match the published digest', async () => {
    const fake = new FakeS3();
    fake.put('images', 'meta', 'actual bytes', { metadata: { sha256: sha256(Buffer.from('other bytes')) } });
    fake.put('images', 'store', 'actual bytes', {
      checksumSha256: createHash('sha256').update('other bytes').digest('base64'),
      checksumType: 'FULL_OBJECT',
    });
    const service = new S3ImageService({ client: fake.client() });
    for (const key of ['meta', 'store']) {
      const error = await rejection(
        service.download(`s3://images/${key}`, memoryWritable(), { retry: false }),
      );
      expect(error.code).toBe('IMAGE_CHECKSUM_ERROR');
    }
  });

  it('resumes a range reset mid-body from where it broke, pinned to the ETag', async () => {
    const fake = new FakeS3();
    const data = randomBytes(500_000);
    const object = fake.put('images', 'disk.img', data);
    fake.fault = (_request, index) => (index === 0 ? { breakAfter: 123_456 } : undefined);
    const out = memoryWritable();
    const result = await new S3ImageService({ client: fake.client() }).download('s3://images/disk.img', out, {
      retry: { minDelayMs: 1 },
    });
    expect(result.retries).toBe(1);
    expect(sha256(out.data())).toBe(sha256(data));
    expect(fake.requests[1]?.headers).toMatchObject({ range: 'bytes=123456-', 'if-match': object.etag });
  });

  it('rides out 503 SlowDown through the SDK retries, then succeeds', async () => {
    const fake = new FakeS3();
    const data = randomBytes(50_000);
    fake.put('images', 'disk.img', data);
    fake.fault = (_request, index) =>
      index < 2 ? { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' } : undefined;
    const out = memoryWritable();
    const result = await new S3ImageService({ client: fake.client(undefined, 3) }).download(
      's3://images/disk.img',
      out,
    );
    expect(result.retries).toBe(0);
    expect(fake.requests).toHaveLength(3);
    expect(out.data().equals(data)).toBe(true);
  });

  it('is a transient ImageDownloadFailed when throttling outlasts every retry', async () => {
    const fake = new FakeS3();
    fake.put('images', 'disk.img', 'x');
    fake.fault = () => ({ status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' });
    const error = await rejection(
      new S3ImageService({ client: fake.client(undefined, 1) }).download(
        's3://images/disk.img',
        memoryWritable(),
        {
          retry: { retries: 2, minDelayMs: 1 },
        },
      ),
    );
    expect(error).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', transient: true });
    expect(error.reason).toMatch(/SlowDown, HTTP 503/);
    expect(fake.requests).toHaveLength(3);
  });

  it('restarts from byte 0 when the object is overwritten between two ranges (412), never splicing', async () => {
    const fake = new FakeS3();
    const before = randomBytes(400_000);
    const after = randomBytes(400_000);
    fake.put('images', 'disk.img', before);
    fake.fault = (_request, index) => {
      if (index === 0) return { breakAfter: 100_000 };
      if (index === 1) fake.put('images', 'disk.img', after);
      return undefined;
    };
    const path = join(dir, 'overwritten.img');
    const result = await downloadToFile(
      new S3ImageService({ client: fake.client() }),
      's3://images/disk.img',
      path,
      {
        retry: { minDelayMs: 1 },
        computeChecksum: 'sha256',
      },
    );
    expect(result.retries).toBe(2);
    expect(sha256(await readFile(path))).toBe(sha256(after));
    expect(result.checksum?.value).toBe(sha256(after));
    expect(fake.requests.map((r) => r.headers['if-match'] ?? null)).toEqual([null, expect.any(String), null]);

    fake.put('images', 'disk.img', before);
    fake.requests.length = 0;
    const error = await rejection(
      new S3ImageService({ client: fake.client() }).download('s3://images/disk.img', memoryWritable(), {
        retry: { minDelayMs: 1 },
      }),
    );
    expect(error).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', mustRestart: true });
  });

  it('maps a missing key to ImageNotFound and leaves no file behind', async () => {
    const fake = new FakeS3();
    fake.put('images', 'other', 'x');
    const path = join(dir, 'missing.img');
    const error = await rejection(
      downloadToFile(new S3ImageService({ client: fake.client() }), 's3://images/absent', path),
    );
    expect(error.code).toBe('IMAGE_NOT_FOUND');
    expect((await readdir(dir)).filter((name) => name.includes('missing.img'))).toEqual([]);
  });

  it('stops on abort with ImageOperationAborted and leaves no file behind', async () => {
    const fake = new FakeS3();
    fake.put('images', 'big.img', randomBytes(4_000_000));
    const controller = new AbortController();
    const path = join(dir, 'aborted.img');
    const error = await rejection(
      downloadToFile(new S3ImageService({ client: fake.client() }), 's3://images/big.img', path, {
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (bytes > 500_000) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('IMAGE_OPERATION_ABORTED');
    expect((await readdir(dir)).filter((name) => name.includes('aborted.img'))).toEqual([]);
  });
});

describe('parallel ranged download', () => {
  const KiB = 1024;
  const options = { partSize: 64 * KiB, concurrency: 4, parallelThreshold: 256 * KiB };

  it('fetches a large object as ranged GETs pinned with If-Match, written in order', async () => {
    const fake = new FakeS3();
    const data = randomBytes(1024 * KiB + 123);
    const object = fake.put('images', 'big.img', data);
    const out = memoryWritable();
    const result = await new S3ImageService({ client: fake.client(), ...options }).download(
      's3://images/big.img',
      out,
    );
    expect(result.bytes).toBe(data.length);
    expect(out.data().equals(data)).toBe(true);
    const ranges = fake.requests.slice(1).map((r) => [r.headers.range, r.headers['if-match']]);
    expect(fake.requests[0]?.headers.range).toBeUndefined();
    expect(ranges).toHaveLength(16);
    expect(ranges).toContainEqual([`bytes=${64 * KiB}-${128 * KiB - 1}`, object.etag]);
    expect(ranges).toContainEqual([`bytes=${1024 * KiB}-${1024 * KiB + 122}`, object.etag]);
  });

  it('fetches an object below the threshold, or with parallel: false, in one GET', async () => {
    const fake = new FakeS3();
    fake.put('images', 'small.img', randomBytes(200 * KiB));
    fake.put('images', 'big.img', randomBytes(1024 * KiB));
    const service = new S3ImageService({ client: fake.client(), ...options });
    await service.download('s3://images/small.img', memoryWritable());
    await service.download('s3://images/big.img', memoryWritable(), { parallel: false });
    expect(fake.requests).toHaveLength(2);
  });

  it('retries a part reset mid-body on its own, from where it broke', async () => {
    const fake = new FakeS3();
    const data = randomBytes(512 * KiB);
    fake.put('images', 'big.img', data);
    fake.fault = (request) =>
      request.headers.range === `bytes=${128 * KiB}-${192 * KiB - 1}` ? { breakAfter: 10_000 } : undefined;
    const out = memoryWritable();
    await new S3ImageService({ client: fake.client(), ...options }).download('s3://images/big.img', out, {
      retry: { minDelayMs: 1 },
    });
    expect(sha256(out.data())).toBe(sha256(data));
    expect(fake.requests.map((r) => r.headers.range)).toContain(
      `bytes=${128 * KiB + 10_000}-${192 * KiB - 1}`,
    );
    expect(fake.requests).toHaveLength(9);
  });

  it('restarts when the object is overwritten between parts, never splicing', async () => {
    const fake = new FakeS3();
    const before = randomBytes(512 * KiB);
    const after = randomBytes(512 * KiB);
    fake.put('images', 'big.img', before);
    fake.fault = (_request, index) => {
      if (index === 1) fake.put('images', 'big.img', after);
      return undefined;
    };
    const path = join(dir, 'parallel-overwritten.img');
    const result = await downloadToFile(
      new S3ImageService({ client: fake.client(), ...options }),
      's3://images/big.img',
      path,
      { retry: { minDelayMs: 1 } },
    );
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(sha256(await readFile(path))).toBe(sha256(after));
  });
});

describe('register', () => {
  it('registers one lazily made, reused service for s3', async () => {
    const registry = new ImageServiceRegistry();
    const fake = new FakeS3();
    register(registry, { client: fake.client() });
    expect(registry.schemes()).toEqual(['s3']);
    const first = await registry.resolve('s3://images/a');
    expect(first).toBeInstanceOf(S3ImageService);
    expect(await registry.resolve('S3://images/b')).toBe(first);
    expect(() => register(registry)).toThrow(/already registered/);
    register(registry, { override: true });
    expect(await registry.resolve('s3://images/a')).not.toBe(first);
  });

  it('checks explicit options at once, and environment options on the first resolve', async () => {
    expect(() => register(new ImageServiceRegistry(), { partSize: 10 })).toThrow(/partSize/);
    const registry = new ImageServiceRegistry();
    register(registry);
    vi.stubEnv('IMAGE_SERVICE_S3_FORCE_PATH_STYLE', 'sometimes');
    try {
      const error = await rejection(registry.resolve('s3://images/a'));
      expect(error.code).toBe('IMAGE_REF_VALIDATION_FAILED');
      expect(error.reason).toMatch(/configuration is invalid: IMAGE_SERVICE_S3_FORCE_PATH_STYLE/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
