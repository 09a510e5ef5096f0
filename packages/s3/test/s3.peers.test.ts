import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  downloadToFile,
  type ImageServiceError,
  type ImageSink,
  isImageServiceError,
  type ReadRequest,
} from '@image-service/core';
import { imageFromBytes, renderError, runConformance } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';
import { formatS3Href, S3ImageService, type S3ImageStream, s3OptionsFromEnv } from '../src/index.js';

interface CephPeer {
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  otherUser: { accessKeyId: string; secretAccessKey: string };
}

const ceph = peer<CephPeer>('ceph');
const credentials = { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey };
const clientConfig: S3ClientConfig = {
  endpoint: ceph.endpoint,
  region: ceph.region,
  forcePathStyle: ceph.forcePathStyle,
  credentials,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
};
const connection = { endpoint: ceph.endpoint, region: ceph.region, forcePathStyle: ceph.forcePathStyle };

const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const bucket = `imgsvc-${run}`;
const versionedBucket = `imgsvc-v-${run}`;
const MiB = 1024 * 1024;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const href = (key: string, versionId?: string, inBucket = bucket) =>
  formatS3Href(versionId === undefined ? { bucket: inBucket, key } : { bucket: inBucket, key, versionId });

const small = randomBytes(100 * 1024);
const large = randomBytes(40 * MiB);
const multipart = randomBytes(24 * MiB + 12345);
const oddKeys = [
  'dir/sub dir/with spaces.img',
  'ünïcødé/磁盘 映像.qcow2',
  'a/b/c/d/e/f/deep.raw',
  'plus+and%percent.img',
];
const oddBodies = new Map(oddKeys.map((key) => [key, randomBytes(4096)]));
const v1 = Buffer.from('version one of the image');
const v2 = Buffer.from('version two of the image, longer');
let v1Id = '';

const admin = new S3Client(clientConfig);
let dir: string;

async function put(
  key: string,
  body: Buffer,
  extra: { Metadata?: Record<string, string>; Bucket?: string } = {},
) {
  return admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
}

async function rejection(promise: Promise<unknown>): Promise<ImageServiceError> {
  try {
    await promise;
  } catch (error) {
    expect(isImageServiceError(error), renderError(error)).toBe(true);
    return error as ImageServiceError;
  }
  throw new Error('it resolved');
}

/** A client that records the Range and If-Match of every GetObject it sends. */
function recordingClient(): { client: S3Client; gets: Array<{ range?: string; ifMatch?: string }> } {
  const client = new S3Client(clientConfig);
  const gets: Array<{ range?: string; ifMatch?: string }> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') {
        const headers = (args.request as { headers: Record<string, string> }).headers;
        gets.push({ range: headers.range, ifMatch: headers['if-match'] });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordGets' },
  );
  return { client, gets };
}

class Exposed extends S3ImageService {
  open(imageHref: string, request: Omit<ReadRequest, 'signal'>): Promise<S3ImageStream> {
    return this.openRead(imageHref, { signal: new AbortController().signal, ...request });
  }
}

const service = new S3ImageService({ ...connection, credentials });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3-peers-'));
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  await admin.send(new CreateBucketCommand({ Bucket: versionedBucket }));
  await admin.send(
    new PutBucketVersioningCommand({
      Bucket: versionedBucket,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  await put('small/disk.img', small, { Metadata: { sha256: sha256(small), owner: 'image-service' } });
  await put('large/disk.img', large);
  for (const [key, body] of oddBodies) await put(key, body);
  const upload = new Upload({
    client: admin,
    params: { Bucket: bucket, Key: 'multipart/disk.img', Body: multipart },
    partSize: 8 * MiB,
    queueSize: 2,
  });
  await upload.done();
  v1Id = (await put('versioned.img', v1, { Bucket: versionedBucket })).VersionId ?? '';
  await put('versioned.img', v2, { Bucket: versionedBucket });
});

afterAll(async () => {
  for (const name of [bucket, versionedBucket]) {
    const listed = await admin.send(new ListObjectVersionsCommand({ Bucket: name })).catch(() => undefined);
    for (const entry of [...(listed?.Versions ?? []), ...(listed?.DeleteMarkers ?? [])]) {
      await admin.send(new DeleteObjectCommand({ Bucket: name, Key: entry.Key, VersionId: entry.VersionId }));
    }
    await admin.send(new DeleteBucketCommand({ Bucket: name })).catch(() => {});
  }
  admin.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

runConformance(
  { describe, it, beforeAll, afterAll },
  {
    name: 's3 against Ceph radosgw',
    service: () => service,
    existing: () => imageFromBytes(href('small/disk.img'), small),
    missing: href('no/such/key.img'),
    malformed: 's3://x/key',
    secret: {
      href: `s3://${bucket}/disk.img?X-Amz-Credential=AKIAPLANTEDKEY000000&X-Amz-Signature=planted0signature0value`,
      secrets: ['AKIAPLANTEDKEY000000', 'planted0signature0value'],
    },
    abortable: href('large/disk.img'),
  },
);

describe('s3 driver against Ceph radosgw', () => {
  it('shows size, ETag, last change, metadata and the checksum the metadata carries', async () => {
    const info = await service.show(href('small/disk.img'));
    expect(info).toMatchObject({
      size: small.length,
      etag: `"${createHash('md5').update(small).digest('hex')}"`,
      checksum: { algorithm: 'sha256', value: sha256(small) },
      properties: {
        contentType: 'application/octet-stream',
        storageClass: 'STANDARD',
        metadata: { sha256: sha256(small), owner: 'image-service' },
      },
    });
    expect(info.updatedAt).toBeInstanceOf(Date);
    expect(await service.validateHref(href('small/disk.img'))).toMatchObject({ size: small.length });
  });

  it('serves keys with slashes, spaces and unicode, escaped or not', async () => {
    for (const [key, body] of oddBodies) {
      for (const variant of [href(key), `s3://${bucket}/${key.replace(/%/g, '%25')}`]) {
        expect((await service.show(variant)).size).toBe(body.length);
        const path = join(dir, 'odd.img');
        await downloadToFile(service, variant, path);
        expect(sha256(await readFile(path))).toBe(sha256(body));
        await rm(path);
      }
    }
  });

  it('downloads a 40 MiB object as parallel ranged GETs pinned to its ETag', async () => {
    const { client, gets } = recordingClient();
    const path = join(dir, 'large.img');
    const result = await downloadToFile(new S3ImageService({ client }), href('large/disk.img'), path, {
      computeChecksum: 'sha256',
    });
    expect(result).toMatchObject({ bytes: large.length, checksum: { value: sha256(large) } });
    expect(sha256(await readFile(path))).toBe(sha256(large));
    const etag = (await service.show(href('large/disk.img'))).etag;
    const ranged = gets.filter((get) => get.range !== undefined);
    expect(ranged).toHaveLength(4);
    expect(ranged.every((get) => get.ifMatch === etag)).toBe(true);
    expect(ranged.map((get) => get.range).sort()).toEqual(
      [1, 2, 3, 4].map((part) => `bytes=${part * 8 * MiB}-${(part + 1) * 8 * MiB - 1}`).sort(),
    );
    await rm(path);
    client.destroy();
  });

  it('downloads a multipart-uploaded object (ETag ending in -N)', async () => {
    const info = await service.show(href('multipart/disk.img'));
    expect(info.size).toBe(multipart.length);
    expect(info.etag).toMatch(/^"[0-9a-f]{32}-4"$/);
    const path = join(dir, 'multipart.img');
    await downloadToFile(service, href('multipart/disk.img'), path);
    expect(sha256(await readFile(path))).toBe(sha256(multipart));
    await rm(path);
  });

  it('says that the key is missing, or that the bucket is', async () => {
    for (const error of [
      await rejection(service.show(href('no/such/key.img'))),
      await rejection(
        service.download(href('no/such/key.img'), new (await import('node:stream')).PassThrough()),
      ),
    ]) {
      expect(error.code).toBe('IMAGE_NOT_FOUND');
      expect(error.reason).toContain(
        `the key "no/such/key.img" in bucket "${bucket}" does not exist (NoSuchKey, HTTP 404`,
      );
    }
    const missingBucket = `imgsvc-missing-${run}`;
    const error = await rejection(service.show(href('disk.img', undefined, missingBucket)));
    expect(error.code).toBe('IMAGE_NOT_FOUND');
    expect(error.reason).toContain(`the bucket "${missingBucket}" does not exist (NoSuchBucket, HTTP 404`);
    const path = join(dir, 'nobucket.img');
    const downloadError = await rejection(
      downloadToFile(service, href('disk.img', undefined, missingBucket), path),
    );
    expect(downloadError.reason).toContain(`the bucket "${missingBucket}" does not exist`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a wrong secret and an unknown access key (signatures are enforced), showing neither', async () => {
    const wrongSecret = {
      accessKeyId: ceph.accessKeyId,
      secretAccessKey: `${ceph.secretAccessKey.slice(0, -4)}WRNG`,
    };
    const unknownKey = { accessKeyId: 'AKIAIMAGESERVICE0000', secretAccessKey: 'unknown-secret-value-0000' };
    const cases = [
      { credentials: wrongSecret, code: 'SignatureDoesNotMatch', words: /secret access key is wrong/ },
      { credentials: unknownKey, code: 'InvalidAccessKeyId', words: /does not know the access key id/ },
      { credentials: ceph.otherUser, code: 'AccessDenied', words: /denied access/ },
    ];
    for (const { credentials: given, code, words } of cases) {
      const refused = new S3ImageService({ ...connection, credentials: given });
      const errors = [
        await rejection(refused.show(href('small/disk.img'))),
        await rejection(refused.validateHref(href('small/disk.img'))),
        await rejection(downloadToFile(refused, href('small/disk.img'), join(dir, 'refused.img'))),
      ];
      for (const error of errors) {
        expect(error.code).toBe('IMAGE_NOT_AUTHORIZED');
        expect(error.reason).toMatch(words);
        expect(error.reason).toContain(`${code}, HTTP 403`);
        const text = renderError(error);
        expect(text).not.toContain(given.secretAccessKey);
        if (given !== ceph.otherUser) expect(text).not.toContain(given.accessKeyId);
      }
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('selects a version with ?versionId= on a versioned bucket', async () => {
    const latest = await service.show(href('versioned.img', undefined, versionedBucket));
    expect(latest.size).toBe(v2.length);
    const first = await service.show(href('versioned.img', v1Id, versionedBucket));
    expect(first).toMatchObject({ size: v1.length, properties: { versionId: v1Id } });
    const path = join(dir, 'v1.img');
    await downloadToFile(service, href('versioned.img', v1Id, versionedBucket), path);
    expect((await readFile(path)).equals(v1)).toBe(true);
    await rm(path);
    const error = await rejection(service.show(href('versioned.img', 'no-such-version', versionedBucket)));
    expect(error.code).toBe('IMAGE_NOT_FOUND');
    expect(error.reason).toContain('version "no-such-version" of the key "versioned.img"');
  });

  it('fails a range of an overwritten object with a restartable error (If-Match, 412)', async () => {
    const key = 'overwrite/pinned.img';
    const before = randomBytes(256 * 1024);
    await put(key, before);
    const exposed = new Exposed({ ...connection, credentials });
    const first = await exposed.open(href(key), { offset: 0 });
    for await (const _chunk of first.body) break;
    await put(key, randomBytes(256 * 1024));
    const error = await rejection(exposed.open(href(key), { offset: 1000, validator: first.validator }));
    expect(error).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', mustRestart: true, transient: true });
    expect(error.reason).toContain('PreconditionFailed, HTTP 412');
  });

  it('restarts a download whose object is overwritten before it resumes, never splicing', async () => {
    const key = 'overwrite/resumed.img';
    const before = randomBytes(4 * MiB);
    const after = randomBytes(4 * MiB);
    await put(key, before);
    const written: Buffer[] = [];
    let resets = 0;
    let overwritten = false;
    // A sink that, on the first chunk, overwrites the object and stalls past the idle timeout: the transfer then
    // resumes at the byte it reached, pinned to the first ETag, which radosgw refuses (412), so it starts over.
    const sink: ImageSink = {
      async write(chunk) {
        written.push(Buffer.from(chunk));
        if (!overwritten) {
          overwritten = true;
          await put(key, after);
          await new Promise((resolve) => setTimeout(resolve, 600));
        }
      },
      async reset() {
        resets += 1;
        written.length = 0;
      },
    };
    const result = await service.transfer(href(key), sink, { idleTimeoutMs: 200, retry: { minDelayMs: 1 } });
    expect(resets).toBe(1);
    expect(result.retries).toBeGreaterThanOrEqual(2);
    expect(sha256(Buffer.concat(written))).toBe(sha256(after));
  });

  it('never splices two versions when a large object is overwritten during a parallel download', async () => {
    const key = 'overwrite/parallel.img';
    const before = randomBytes(24 * MiB);
    const after = randomBytes(24 * MiB);
    await put(key, before);
    const written: Buffer[] = [];
    let resets = 0;
    let overwritten = false;
    // The first chunk waits until the object is overwritten, so every part but the first two starts after it.
    const sink: ImageSink = {
      async write(chunk) {
        written.push(Buffer.from(chunk));
        if (!overwritten) {
          overwritten = true;
          await put(key, after);
        }
      },
      async reset() {
        resets += 1;
        written.length = 0;
      },
    };
    const result = await service.transfer(href(key), sink, {
      parallel: { partSize: MiB, concurrency: 2, threshold: MiB },
      computeChecksum: 'sha256',
      retry: { minDelayMs: 1 },
    });
    const digest = sha256(Buffer.concat(written));
    expect([sha256(before), sha256(after)]).toContain(digest);
    expect(result.checksum?.value).toBe(digest);
    if (digest === sha256(after)) expect(resets).toBe(1);
  });

  it('leaves no file when a download is aborted', async () => {
    const controller = new AbortController();
    const path = join(dir, 'aborted.img');
    const error = await rejection(
      downloadToFile(service, href('large/disk.img'), path, {
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (bytes >= 2 * MiB) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('IMAGE_OPERATION_ABORTED');
    expect(await readdir(dir)).toEqual([]);
  });

  it('works from the standard AWS environment variables alone', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_S3', ceph.endpoint);
    vi.stubEnv('AWS_REGION', ceph.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', ceph.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', ceph.secretAccessKey);
    vi.stubEnv('IMAGE_SERVICE_S3_FORCE_PATH_STYLE', 'true');
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials');
    try {
      const fromEnv = new S3ImageService(s3OptionsFromEnv());
      expect((await fromEnv.show(href('small/disk.img'))).size).toBe(small.length);
      const path = join(dir, 'env.img');
      await downloadToFile(fromEnv, href('small/disk.img'), path);
      expect(sha256(await readFile(path))).toBe(sha256(small));
      await rm(path);
      (await fromEnv.client()).destroy();
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
