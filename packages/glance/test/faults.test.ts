import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  ImageChecksumError,
  ImageDownloadFailed,
  ImageNotAuthorized,
  ImageNotFound,
  ImageRefValidationFailed,
  ImageServiceRegistry,
  ImageUnacceptable,
  isImageServiceError,
} from '@image-service/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GlanceClient,
  GlanceConnectionFailed,
  GlanceImageService,
  type GlanceOptions,
  KeystoneConnectionFailed,
  register,
} from '../src/index.js';
import { FakeOpenStack } from './fake-openstack.js';

/** A writable that hashes what it is given (memory stays flat). */
function hashingSink() {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback();
    },
  });
  return { stream, result: () => ({ bytes, sha256: hash.digest('hex') }) };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let fake: FakeOpenStack;
const services: GlanceImageService[] = [];

function service(options: GlanceOptions = {}): GlanceImageService {
  const made = new GlanceImageService({
    auth: { authUrl: `${fake.url}/v3`, username: 'demo', password: fake.password, projectName: 'demo' },
    numRetries: 0,
    retryDelayMs: 1,
    ...options,
  });
  services.push(made);
  return made;
}

beforeAll(async () => {
  fake = await new FakeOpenStack().start();
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
  fake.fileHook = undefined;
  fake.refuseAllTokens = false;
  fake.keystone = true;
  fake.ranges = true;
  fake.metadataFaults = [];
  fake.roles = ['member'];
  fake.seen.length = 0;
});
afterAll(async () => {
  await fake.stop();
});

describe('download faults', () => {
  it('resumes a connection reset mid-body with a Range request', async () => {
    const image = fake.addImage({ size: 2_000_000 });
    const half = 900_000;
    fake.fileHook = (req, res, img, attempt) => {
      if (attempt > 1 || req.headers.range) return false;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(img.data.length),
      });
      res.write(img.data.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 50));
      return true;
    };
    const sink = hashingSink();
    const result = await service().download(image.id, sink.stream, {
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    expect(sink.result()).toEqual({ bytes: image.data.length, sha256: sha256(image.data) });
    expect(result.retries).toBe(1);
    expect(result.checksum?.algorithm).toBe('sha512');
    const files = fake.glanceRequests().filter((r) => r.url.endsWith('/file'));
    expect(files).toHaveLength(2);
    expect(files[0]?.headers.range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(String(files[1]?.headers.range))?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(half);
  });

  it('resumes against a Glance that ignores Range by skipping to the offset', async () => {
    const image = fake.addImage({ size: 1_500_000 });
    fake.ranges = false;
    fake.fileHook = (_req, res, img, attempt) => {
      if (attempt !== fake.fileAttempts || res.req.headers['x-test-done']) return false;
      if (fake.glanceRequests().filter((r) => r.url.endsWith('/file')).length > 1) return false;
      res.writeHead(200, { 'content-length': String(img.data.length) });
      res.write(img.data.subarray(0, 700_000), () => setTimeout(() => res.socket?.destroy(), 50));
      return true;
    };
    const sink = hashingSink();
    const result = await service().download(image.id, sink.stream, {
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    expect(sink.result()).toEqual({ bytes: image.data.length, sha256: sha256(image.data) });
    expect(result.retries).toBe(1);
  });

  it('rejects bytes that do not match the published digest with ImageChecksumError', async () => {
    const image = fake.addImage({ size: 50_000, sha512: 'ab'.repeat(64) });
    const error = await service()
      .download(image.id, hashingSink().stream)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageChecksumError);
    expect((error as ImageChecksumError).expected).toBe(`sha512:${'ab'.repeat(64)}`);
  });

  it('skips the published digest with verifyStoreChecksum: false', async () => {
    const image = fake.addImage({ size: 50_000, sha512: 'ab'.repeat(64) });
    const sink = hashingSink();
    await service().download(image.id, sink.stream, { verifyStoreChecksum: false });
    expect(sink.result().sha256).toBe(sha256(image.data));
  });

  it('retries a 503 on the file and then downloads', async () => {
    const image = fake.addImage({ size: 80_000 });
    fake.fileHook = (_req, res, _img, attempt) => {
      if (
        attempt !== fake.fileAttempts ||
        fake.glanceRequests().filter((r) => r.url.endsWith('/file')).length > 1
      ) {
        return false;
      }
      res.writeHead(503, { 'retry-after': '0' });
      res.end('busy');
      return true;
    };
    const sink = hashingSink();
    const result = await service().download(image.id, sink.stream, {
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    expect(sink.result().sha256).toBe(sha256(image.data));
    expect(result.retries).toBe(1);
  });

  it('says "image contains no data." for an empty image and refuses a 204', async () => {
    const empty = fake.addImage({ size: 0 });
    await expect(service().download(empty.id, hashingSink().stream)).rejects.toThrow(
      `Failed to download image ${empty.id}, reason: image contains no data.`,
    );
    const image = fake.addImage({ size: 10 });
    fake.fileHook = (_req, res) => {
      res.writeHead(204);
      res.end();
      return true;
    };
    await expect(service().download(image.id, hashingSink().stream)).rejects.toBeInstanceOf(
      ImageUnacceptable,
    );
  });

  it('stops on abort with ImageOperationAborted', async () => {
    const image = fake.addImage({ size: 100_000 });
    fake.fileHook = (_req, res) => {
      res.writeHead(200, { 'content-length': String(image.data.length) });
      res.write(image.data.subarray(0, 1000));
      return true;
    };
    const controller = new AbortController();
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        controller.abort();
        callback();
      },
    });
    const error = await service()
      .download(image.id, sink, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(isImageServiceError(error, 'IMAGE_OPERATION_ABORTED')).toBe(true);
  });
});

describe('show and errors', () => {
  it('returns size, updatedAt in UTC, the sha512 digest and the properties', async () => {
    const image = fake.addImage({ size: 1234, extra: { hw_architecture: 'x86_64', build: '42' } });
    const info = await service().show(image.id.toUpperCase());
    expect(info.size).toBe(1234);
    expect(info.updatedAt?.toISOString()).toBe('2026-11-26T23:00:00.000Z');
    expect(info.checksum).toEqual({
      algorithm: 'sha512',
      value: createHash('sha512').update(image.data).digest('hex'),
    });
    expect(info.properties).toMatchObject({
      id: image.id,
      disk_format: 'raw',
      visibility: 'public',
      created_at: '2026-11-26T22:59:19.000Z',
      properties: { hw_architecture: 'x86_64', build: '42' },
    });
  });

  it('retries a 503 and then shows the image', async () => {
    const image = fake.addImage({ size: 10 });
    fake.metadataFaults = [503, 502];
    // Retry-After: 0 overrides the hour-long configured wait.
    const info = await service({ numRetries: 2, retryDelayMs: 3_600_000 }).show(image.id);
    expect(info.size).toBe(10);
    expect(fake.glanceRequests().filter((r) => r.url === `/glance/v2/images/${image.id}`)).toHaveLength(3);
  });

  it('fails with GlanceConnectionFailed once the retries are spent', async () => {
    const image = fake.addImage({ size: 10 });
    fake.metadataFaults = [503, 503];
    const error = await service({ numRetries: 1 })
      .show(image.id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GlanceConnectionFailed);
    expect(error).toBeInstanceOf(ImageDownloadFailed);
    expect((error as GlanceConnectionFailed).message).toBe(
      `Connection to glance endpoint ${fake.url}/glance failed: Glance answered HTTP 503: fault 503`,
    );
    expect((error as GlanceConnectionFailed).transient).toBe(true);
    expect(fake.metadataFaults).toHaveLength(0);
  });

  it('fails with GlanceConnectionFailed when nothing listens', async () => {
    const error = await new GlanceImageService({
      endpoint: 'http://127.0.0.1:9',
      numRetries: 1,
      retryDelayMs: 1,
    })
      .show(randomUUID())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GlanceConnectionFailed);
    expect((error as Error).message).toMatch(
      /^Connection to glance endpoint http:\/\/127\.0\.0\.1:9 failed: .*ECONNREFUSED/,
    );
  });

  it('maps 404 to ImageNotFound and a non-active image to ImageUnacceptable', async () => {
    await expect(service().show(randomUUID())).rejects.toBeInstanceOf(ImageNotFound);
    const queued = fake.addImage({ status: 'queued' });
    await expect(service().show(queued.id)).rejects.toThrow(
      `Image ${queued.id} is unacceptable: The image is required to be in an active state.`,
    );
  });

  it('applies the access rules: owner, accepted member, admin', async () => {
    const mine = fake.addImage({ visibility: 'private', owner: fake.projectId, size: 1 });
    const theirs = fake.addImage({ visibility: 'private', owner: 'project-other', size: 1 });
    const accepted = fake.addImage({
      visibility: 'shared',
      size: 1,
      members: { [fake.projectId]: 'accepted' },
    });
    const pending = fake.addImage({
      visibility: 'shared',
      size: 1,
      members: { [fake.projectId]: 'pending' },
    });
    const community = fake.addImage({ visibility: 'community', size: 1 });
    const svc = service();
    await expect(svc.show(mine.id)).resolves.toMatchObject({ size: 1 });
    await expect(svc.show(accepted.id)).resolves.toMatchObject({ size: 1 });
    await expect(svc.show(community.id)).resolves.toMatchObject({ size: 1 });
    await expect(svc.show(theirs.id)).rejects.toBeInstanceOf(ImageNotFound);
    await expect(svc.show(pending.id)).rejects.toBeInstanceOf(ImageNotFound);
    await expect(svc.withContext({ roles: ['admin'] }).show(theirs.id)).resolves.toMatchObject({ size: 1 });
    await expect(svc.withContext({ projectId: 'project-other' }).show(theirs.id)).resolves.toMatchObject({
      size: 1,
    });
    fake.roles = ['admin', 'member'];
    await expect(service().show(theirs.id)).resolves.toMatchObject({ size: 1 });
  });
});

describe('Keystone', () => {
  it('renews the token once when Glance answers 401, then shares it', async () => {
    const image = fake.addImage({ size: 10 });
    const svc = service();
    const before = fake.authRequests;
    await svc.show(image.id);
    const first = await svc.client.getToken();
    fake.tokens.delete(first!);
    await svc.show(image.id);
    await svc.show(image.id);
    expect(fake.authRequests - before).toBe(2);
    expect(await svc.client.getToken()).not.toBe(first);
  });

  it('gives up with ImageNotAuthorized after one renewal', async () => {
    const image = fake.addImage({ size: 10 });
    const svc = service();
    await svc.show(image.id);
    const before = fake.authRequests;
    fake.refuseAllTokens = true;
    const error = await svc.show(image.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect(fake.authRequests - before).toBe(1);
    expect(String((error as Error).message)).toContain('HTTP 401');
  });

  it('refuses a wrong password with ImageNotAuthorized that does not show it', async () => {
    const password = 'wr0ng-Passw0rd-ZZZ';
    const error = await service({
      auth: { authUrl: fake.url, username: 'demo', password, projectName: 'demo' },
    })
      .show(randomUUID())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect((error as Error).message).toContain('Keystone answered HTTP 401');
    const everything = `${(error as Error).message} ${(error as Error).stack} ${JSON.stringify(error)} ${String((error as Error).cause)}`;
    expect(everything).not.toContain(password);
  });

  it('takes the endpoint of the interface and region asked for', async () => {
    const image = fake.addImage({ size: 10 });
    await service({ interface: 'internal' }).show(image.id);
    await service({ regionName: 'RegionTwo', interface: 'internal' }).show(image.id);
    expect(fake.glanceRequests().map((r) => r.url)).toEqual([
      `/glance-internal/v2/images/${image.id}`,
      `/glance-internal/v2/images/${image.id}`,
    ]);
    const error = await service({ regionName: 'RegionTwo' })
      .show(image.id)
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'The Keystone catalog has no public image endpoint in region RegionTwo',
    );
  });

  it('fails with KeystoneConnectionFailed when Keystone cannot be reached', async () => {
    const error = await service({ auth: { authUrl: 'http://127.0.0.1:9/v3', username: 'u', password: 'p' } })
      .show(randomUUID())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeystoneConnectionFailed);
    expect((error as Error).message).toMatch(
      /^Connection to keystone endpoint http:\/\/127\.0\.0\.1:9\/v3\/auth\/tokens failed/,
    );
  });

  it("sends a request context's token as the user's, and its request id", async () => {
    const image = fake.addImage({ visibility: 'private', owner: 'project-user', size: 10 });
    const userToken = `tok-user-${randomUUID()}`;
    fake.tokens.add(userToken);
    const requestId = `req-${randomUUID()}`;
    const before = fake.authRequests;
    const svc = service().withContext({
      authToken: userToken,
      projectId: 'project-user',
      globalRequestId: requestId,
    });
    await expect(svc.show(image.id)).resolves.toMatchObject({ size: 10 });
    const [seen] = fake.glanceRequests();
    expect(seen?.headers['x-auth-token']).toBe(userToken);
    expect(seen?.headers['x-openstack-request-id']).toBe(requestId);
    expect(fake.authRequests).toBe(before);
    fake.tokens.delete(userToken);
    const error = await svc.show(image.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect(fake.authRequests).toBe(before);
    expect(JSON.stringify(error) + (error as Error).stack).not.toContain(userToken);
  });

  it("learns a user token's project and catalog from Keystone when the context names none", async () => {
    const image = fake.addImage({ visibility: 'private', owner: fake.projectId, size: 10 });
    const userToken = `tok-user-${randomUUID()}`;
    fake.tokens.add(userToken);
    const svc = new GlanceImageService({ auth: { authUrl: fake.url }, context: { authToken: userToken } });
    services.push(svc);
    await expect(svc.show(image.id)).resolves.toMatchObject({ size: 10 });
    expect(
      fake.seen.find((r) => r.method === 'GET' && r.url === '/v3/auth/tokens')?.headers['x-subject-token'],
    ).toBe(userToken);
  });

  it('works without Keystone against an explicit endpoint', async () => {
    fake.keystone = false;
    const image = fake.addImage({ size: 10 });
    const svc = new GlanceImageService({ endpoint: `${fake.url}/glance/v2` });
    services.push(svc);
    await expect(svc.show(`glance://${image.id}`)).resolves.toMatchObject({ size: 10 });
    expect(fake.glanceRequests()[0]?.headers['x-auth-token']).toBeUndefined();
    const none = new GlanceClient({
      endpoint: `${fake.url}/glance`,
      auth: { authType: 'none', authUrl: `${fake.url}/v3`, token: 'ignored' },
    });
    expect(await none.getToken()).toBeUndefined();
    const adminToken = new GlanceClient({
      endpoint: `${fake.url}/glance`,
      auth: { authType: 'admin_token', token: 'as-is' },
    });
    expect(await adminToken.getToken()).toBe('as-is');
    await Promise.all([none.close(), adminToken.close()]);
  });

  it('uses the endpoint a glance://<host>:<port>/<id> href names', async () => {
    fake.keystone = false;
    const image = fake.addImage({ size: 10 });
    const svc = new GlanceImageService({ endpoint: 'http://127.0.0.1:9' });
    services.push(svc);
    await expect(svc.show(`glance://${fake.url.slice(7)}/${image.id}`)).resolves.toMatchObject({ size: 10 });
    expect(fake.seen.map((r) => r.url)).toEqual([`/v2/images/${image.id}`]);
  });

  it('sends the token to an href-named endpoint only when it is the catalog one, or trusted', async () => {
    const image = fake.addImage({ size: 10 });
    const port = new URL(fake.url).port;
    await expect(service().show(`glance://127.0.0.1:${port}/${image.id}`)).resolves.toMatchObject({
      size: 10,
    });
    const error = await service()
      .show(`glance://localhost:${port}/${image.id}`)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect((error as Error).message).toContain('no token is sent to an endpoint named in an href');
    await expect(
      service({ trustHrefEndpoints: true }).show(`glance://localhost:${port}/${image.id}`),
    ).resolves.toMatchObject({ size: 10 });
    expect(fake.glanceRequests().map((r) => typeof r.headers['x-auth-token'])).toEqual([
      'string',
      'undefined',
      'string',
    ]);
  });
});

describe('register', () => {
  it('reuses one service, and binds a client or a request context when getImageService hands one in', async () => {
    const registry = new ImageServiceRegistry();
    register(registry, { endpoint: `${fake.url}/glance` });
    const id = randomUUID();
    const plain = (await registry.resolve(id)) as GlanceImageService;
    expect(plain).toBeInstanceOf(GlanceImageService);
    expect(await registry.resolve(`glance://${id}`)).toBe(plain);
    const withContext = (await registry.resolve(id, {
      context: { auth_token: 't', project_id: 'p' },
    })) as GlanceImageService;
    expect(withContext.client).toBe(plain.client);
    expect(withContext.context).toEqual({ authToken: 't', projectId: 'p' });
    const client = new GlanceClient({ endpoint: 'http://x' });
    expect(((await registry.resolve(id, { client })) as GlanceImageService).client).toBe(client);
    const clientOptions = { endpoint: 'http://y' };
    const first = (await registry.resolve(id, { client: clientOptions })) as GlanceImageService;
    const second = (await registry.resolve(id, { client: clientOptions })) as GlanceImageService;
    expect(first.client).toBe(second.client);
    expect(first.client.options.endpoint).toBe('http://y');
    await expect(registry.resolve('not-a-uuid')).rejects.toBeInstanceOf(ImageRefValidationFailed);
    expect(() => register(registry)).toThrow(/already registered/);
    register(registry, {}, { override: true });
    await Promise.all([plain.close(), client.close(), first.client.close()]);
  });
});
