import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type ImageInfo,
  ImageNotAuthorized,
  ImageNotFound,
  ImageServiceRegistry,
  type ImageStream,
  ImageUnacceptable,
  isImageServiceError,
  type ReadRequest,
} from '@image-service/core';
import { renderError, runConformance } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';
import {
  GlanceImageService,
  type GlanceOptions,
  type GlanceRequestContext,
  glanceOptionsFromEnv,
  type KeystoneAuthOptions,
  register,
} from '../src/index.js';

interface Fixture {
  id: string;
  status: string;
  visibility: string;
  owner: string | null;
  size: number | null;
  os_hash_value: string | null;
  properties: Record<string, string>;
  file?: string;
}
interface User {
  name: string;
  password: string;
  projectId: string;
}
interface OpenStackPeer {
  keystone: {
    url: string;
    authUrl: string;
    region: string;
    users: Record<'admin' | 'demo' | 'other', User>;
    applicationCredential: { id: string; secret: string; projectId: string };
  };
  glanceNoAuth: { url: string; images: Record<string, Fixture> };
  glanceKeystone: { url: string; images: Record<string, Fixture> };
}

const os = peer<OpenStackPeer>('openstack');
const ks = os.keystone;
const noauth = os.glanceNoAuth;
const kimg = os.glanceKeystone.images;
const demo = ks.users.demo;

const fixture = (images: Record<string, Fixture>, key: string): Fixture => {
  const found = images[key];
  if (!found) throw new Error(`the openstack peer has no fixture image "${key}"`);
  return found;
};

const sha256File = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });

const passwordAuth = (user: User): KeystoneAuthOptions => ({
  authUrl: ks.authUrl,
  username: user.name,
  password: user.password,
  projectName: user.name,
  userDomainName: 'Default',
  projectDomainName: 'Default',
});

const made: GlanceImageService[] = [];
function glance(options: GlanceOptions): GlanceImageService {
  const service = new GlanceImageService({ numRetries: 0, ...options });
  made.push(service);
  return service;
}

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

async function adminToken(): Promise<string> {
  const token = await glance({ auth: passwordAuth(ks.users.admin) }).client.getToken();
  if (!token) throw new Error('no admin token');
  return token;
}

async function revoke(token: string): Promise<void> {
  const response = await fetch(`${ks.authUrl}/auth/tokens`, {
    method: 'DELETE',
    headers: { 'x-auth-token': await adminToken(), 'x-subject-token': token },
  });
  expect(response.status).toBe(204);
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

afterAll(async () => {
  await Promise.all(made.splice(0).map((service) => service.close()));
});

const noauthPublic = fixture(noauth.images, 'public');
const keystonePublic = fixture(kimg, 'public');
let noauthSha = '';
let keystoneSha = '';
beforeAll(async () => {
  noauthSha = await sha256File(noauthPublic.file!);
  keystoneSha = await sha256File(keystonePublic.file!);
});

const missingId = randomUUID();

runConformance(
  { describe, it, beforeAll, afterAll },
  {
    name: 'glance without keystone (explicit endpoint)',
    service: () => glance({ endpoint: noauth.url }),
    existing: () => ({ href: noauthPublic.id, size: noauthPublic.size!, sha256: noauthSha }),
    missing: `glance://${missingId}`,
    malformed: 'glance://not-a-uuid',
    secret: {
      href: `glance://admin:p4ss-planted@127.0.0.1:9292/${missingId}?sig=sig-planted-value`,
      secrets: ['p4ss-planted', 'sig-planted-value'],
    },
  },
);

runConformance(
  { describe, it, beforeAll, afterAll },
  {
    name: 'glance with keystone (catalog endpoint, password auth)',
    service: () => glance({ auth: passwordAuth(demo) }),
    existing: () => ({
      href: `glance://${keystonePublic.id}`,
      size: keystonePublic.size!,
      sha256: keystoneSha,
    }),
    missing: missingId.toUpperCase(),
    malformed: `${missingId}-x`,
    secret: {
      href: `glance://demo:p4ss-planted@127.0.0.1:9293/${missingId}?token=tok-planted-value`,
      secrets: ['p4ss-planted', 'tok-planted-value'],
    },
  },
);

describe('glance without keystone', () => {
  it('shows and downloads the public image, its digest verified, properties included', async () => {
    const service = glance({ endpoint: noauth.url });
    const info = await service.show(noauthPublic.id);
    expect(info.size).toBe(noauthPublic.size);
    expect(info.checksum).toEqual({ algorithm: 'sha512', value: noauthPublic.os_hash_value });
    expect(info.properties).toMatchObject({ visibility: 'public', properties: noauthPublic.properties });
    const sink = hashingSink();
    const result = await service.download(noauthPublic.id, sink.stream);
    expect(sink.result()).toEqual({ bytes: noauthPublic.size, sha256: noauthSha });
    expect(result.checksum).toEqual({ algorithm: 'sha512', value: noauthPublic.os_hash_value });
  });

  it('refuses queued and deactivated images with ImageUnacceptable', async () => {
    const service = glance({ endpoint: noauth.url });
    for (const key of ['queued', 'deactivated']) {
      const image = fixture(noauth.images, key);
      const error = await rejection(service.show(image.id));
      expect(error).toBeInstanceOf(ImageUnacceptable);
      expect((error as Error).message).toBe(
        `Image ${image.id} is unacceptable: The image is required to be in an active state.`,
      );
      await expect(service.download(image.id, hashingSink().stream)).rejects.toBeInstanceOf(
        ImageUnacceptable,
      );
    }
  });

  it('reaches the endpoint a glance://<host>:<port>/<id> href names', async () => {
    const service = glance({});
    const info = await service.show(`glance://${new URL(noauth.url).host}/${noauthPublic.id.toUpperCase()}`);
    expect(info.size).toBe(noauthPublic.size);
  });

  it('is configured by OS_IMAGE_URL alone', async () => {
    const service = glance(glanceOptionsFromEnv({ OS_IMAGE_URL: noauth.url, HOME: tmpdir() }));
    expect((await service.show(noauthPublic.id.replace(/-/g, ''))).size).toBe(noauthPublic.size);
  });

  it('returns exactly the bytes of a range (Glance answers 206) and refuses a changed image', async () => {
    class Exposed extends GlanceImageService {
      open(href: string, request: ReadRequest): Promise<ImageStream> {
        return this.openRead(href, request);
      }
    }
    const service = new Exposed({ endpoint: noauth.url, numRetries: 0 });
    made.push(service);
    const bytes = await readFile(noauthPublic.file!);
    const read = async (request: Omit<ReadRequest, 'signal'>) => {
      const stream = await service.open(noauthPublic.id, {
        ...request,
        signal: new AbortController().signal,
      });
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream.body) chunks.push(chunk);
      return { stream, data: Buffer.concat(chunks) };
    };
    const whole = await read({ offset: 0, length: 10 });
    expect(whole.data).toEqual(bytes.subarray(0, 10));
    expect(whole.stream.validator).toBe(`sha512:${noauthPublic.os_hash_value}`);
    const tail = await read({ offset: 1_000_000, validator: whole.stream.validator });
    expect(tail.data.equals(bytes.subarray(1_000_000))).toBe(true);
    expect(tail.stream.size).toBe(bytes.length);
    const middle = await read({ offset: 123_457, length: 65_536 });
    expect(middle.data.equals(bytes.subarray(123_457, 123_457 + 65_536))).toBe(true);
    const changed = await rejection(read({ offset: 10, validator: 'sha512:0' }));
    expect(isImageServiceError(changed, 'IMAGE_DOWNLOAD_FAILED')).toBe(true);
    expect((changed as { mustRestart: boolean }).mustRestart).toBe(true);
  });
});

describe('glance with keystone: what each fixture image gives the demo project', () => {
  const service = () => glance({ auth: passwordAuth(demo) });
  const ok = ['public', 'shared_member', 'private_demo', 'community', 'custom_props'];
  for (const key of ok) {
    it(`${key}: shown and downloaded`, async () => {
      const image = fixture(kimg, key);
      const svc = service();
      const info = await svc.show(image.id);
      expect(info.size).toBe(image.size);
      expect(info.checksum?.value).toBe(image.os_hash_value);
      const sink = hashingSink();
      await svc.download(image.id, sink.stream);
      expect(sink.result()).toEqual({ bytes: image.size, sha256: await sha256File(image.file!) });
    });
  }
  for (const key of ['private_other', 'shared_pending', 'shared_nonmember']) {
    it(`${key}: ImageNotFound`, async () => {
      const image = fixture(kimg, key);
      await expect(service().show(image.id)).rejects.toBeInstanceOf(ImageNotFound);
      await expect(service().download(image.id, hashingSink().stream)).rejects.toBeInstanceOf(ImageNotFound);
    });
  }
  for (const key of ['queued', 'deactivated']) {
    it(`${key}: ImageUnacceptable`, async () => {
      const image = fixture(kimg, key);
      await expect(service().show(image.id)).rejects.toThrow(
        'The image is required to be in an active state.',
      );
      await expect(service().download(image.id, hashingSink().stream)).rejects.toBeInstanceOf(
        ImageUnacceptable,
      );
    });
  }
  it('custom_props: the custom properties and the attributes are in properties, times in UTC', async () => {
    const image = fixture(kimg, 'custom_props');
    const info: ImageInfo = await service().show(image.id);
    expect(info.properties).toMatchObject({
      id: image.id,
      name: 'custom_props',
      disk_format: 'raw',
      container_format: 'bare',
      owner: demo.projectId,
      visibility: 'private',
      min_disk: 0,
      min_ram: 0,
      tags: [],
      protected: false,
      os_hash_algo: 'sha512',
      os_hash_value: image.os_hash_value,
      properties: image.properties,
    });
    expect(image.properties.os_distro).toBe('cirros');
    expect(info.updatedAt).toBeInstanceOf(Date);
    expect(info.properties.updated_at).toBe(info.updatedAt?.toISOString());
  });
  it('empty: shown with size 0, its download fails with "image contains no data."', async () => {
    const image = fixture(kimg, 'empty');
    expect((await service().show(image.id)).size).toBe(0);
    await expect(service().download(image.id, hashingSink().stream)).rejects.toThrow(
      `Failed to download image ${image.id}, reason: image contains no data.`,
    );
  });
  it('an admin sees the private image of another project', async () => {
    const image = fixture(kimg, 'private_other');
    expect((await glance({ auth: passwordAuth(ks.users.admin) }).show(image.id)).size).toBe(image.size);
  });
});

describe('glance with keystone: authentication', () => {
  it('takes the image endpoint from the catalog, by interface and region', async () => {
    const svc = glance({ auth: passwordAuth(demo), interface: 'internal', regionName: ks.region });
    const caller = await svc.client.caller({ imageHref: keystonePublic.id });
    expect(caller.endpoint).toBe(os.glanceKeystone.url);
    expect(caller.projectId).toBe(demo.projectId);
    expect((await svc.show(keystonePublic.id)).size).toBe(keystonePublic.size);
    await expect(
      glance({ auth: passwordAuth(demo), interface: 'admin' }).show(keystonePublic.id),
    ).rejects.toThrow('The Keystone catalog has no admin image endpoint');
    await expect(
      glance({ auth: passwordAuth(demo), regionName: 'Nowhere' }).show(keystonePublic.id),
    ).rejects.toThrow('The Keystone catalog has no public image endpoint in region Nowhere');
  });

  it('sends the token to a glance://<host>:<port>/<id> endpoint only when it is the catalog one, or trusted', async () => {
    const port = new URL(os.glanceKeystone.url).port;
    const id = keystonePublic.id;
    expect((await glance({ auth: passwordAuth(demo) }).show(`glance://127.0.0.1:${port}/${id}`)).size).toBe(
      keystonePublic.size,
    );
    const withheld = await rejection(
      glance({ auth: passwordAuth(demo) }).show(`glance://localhost:${port}/${id}`),
    );
    expect(withheld).toBeInstanceOf(ImageNotAuthorized);
    expect((withheld as Error).message).toContain('no token is sent to an endpoint named in an href');
    const trusted = glance({ auth: passwordAuth(demo), trustHrefEndpoints: true });
    expect((await trusted.show(`glance://localhost:${port}/${id}`)).size).toBe(keystonePublic.size);
  });

  it('authenticates with an auth URL lacking /v3 and with ids instead of names', async () => {
    const svc = glance({
      auth: {
        authUrl: ks.url,
        userId: undefined,
        username: 'demo',
        password: demo.password,
        projectId: demo.projectId,
      },
    });
    expect((await svc.show(fixture(kimg, 'private_demo').id)).size).toBe(fixture(kimg, 'private_demo').size);
  });

  it('authenticates with a token, as is or rescoped to a project', async () => {
    const token = (await glance({ auth: passwordAuth(demo) }).client.getToken())!;
    const image = fixture(kimg, 'private_demo');
    expect((await glance({ auth: { authUrl: ks.authUrl, token } }).show(image.id)).size).toBe(image.size);
    const rescoped = glance({
      auth: { authUrl: ks.authUrl, authType: 'v3token', token, projectId: demo.projectId },
    });
    expect((await rescoped.show(image.id)).size).toBe(image.size);
    expect(await rescoped.client.getToken()).not.toBe(token);
  });

  it('authenticates with an application credential', async () => {
    const credential = ks.applicationCredential;
    const svc = glance({
      auth: {
        authUrl: ks.authUrl,
        applicationCredentialId: credential.id,
        applicationCredentialSecret: credential.secret,
      },
    });
    const image = fixture(kimg, 'private_demo');
    expect((await svc.show(image.id)).size).toBe(image.size);
    await expect(svc.show(fixture(kimg, 'private_other').id)).rejects.toBeInstanceOf(ImageNotFound);
  });

  it('refuses a wrong password or application credential secret with ImageNotAuthorized that does not show it', async () => {
    const password = `wrong-${randomUUID()}`;
    const error = await rejection(
      glance({ auth: { ...passwordAuth(demo), password } }).show(keystonePublic.id),
    );
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect((error as Error).message).toContain('Keystone answered HTTP 401');
    expect(renderError(error)).not.toContain(password);
    const secret = `wrong-${randomUUID()}`;
    const appcred = await rejection(
      glance({
        auth: {
          authUrl: ks.authUrl,
          applicationCredentialId: ks.applicationCredential.id,
          applicationCredentialSecret: secret,
        },
      }).show(keystonePublic.id),
    );
    expect(appcred).toBeInstanceOf(ImageNotAuthorized);
    expect(renderError(appcred)).not.toContain(secret);
  });

  it('renews a revoked token once and carries on', async () => {
    const svc = glance({ auth: passwordAuth(demo) });
    await svc.show(keystonePublic.id);
    const first = (await svc.client.getToken())!;
    await revoke(first);
    const info = await svc.show(keystonePublic.id);
    expect(info.size).toBe(keystonePublic.size);
    const second = await svc.client.getToken();
    expect(second).not.toBe(first);
    const sink = hashingSink();
    await svc.download(keystonePublic.id, sink.stream);
    expect(sink.result().sha256).toBe(keystoneSha);
  });

  it('fails with ImageNotAuthorized when a revoked token cannot be renewed', async () => {
    const token = (await glance({ auth: passwordAuth(demo) }).client.getToken())!;
    const svc = glance({ auth: { authUrl: ks.authUrl, token } });
    await svc.show(keystonePublic.id);
    await revoke(token);
    const error = await rejection(svc.show(keystonePublic.id));
    expect(error).toBeInstanceOf(ImageNotAuthorized);
    expect(renderError(error)).not.toContain(token);
    const withoutKeystone = await rejection(
      glance({ endpoint: os.glanceKeystone.url, auth: { token } }).show(keystonePublic.id),
    );
    expect(withoutKeystone).toBeInstanceOf(ImageNotAuthorized);
    expect(renderError(withoutKeystone)).not.toContain(token);
  });

  it("sends a request context's token as the user's, with the context's project for the access rules", async () => {
    const userToken = (await glance({ auth: passwordAuth(demo) }).client.getToken())!;
    const adminService = glance({ auth: passwordAuth(ks.users.admin) });
    const context: GlanceRequestContext = { authToken: userToken, globalRequestId: `req-${randomUUID()}` };
    const asDemo = adminService.withContext(context);
    expect((await asDemo.client.caller({ imageHref: 'x', context })).projectId).toBe(demo.projectId);
    expect((await asDemo.show(fixture(kimg, 'private_demo').id)).size).toBe(
      fixture(kimg, 'private_demo').size,
    );
    await expect(asDemo.show(fixture(kimg, 'private_other').id)).rejects.toBeInstanceOf(ImageNotFound);
    expect((await adminService.show(fixture(kimg, 'private_other').id)).size).toBe(
      fixture(kimg, 'private_other').size,
    );
    const explicit = glance({
      endpoint: os.glanceKeystone.url,
      context: { authToken: userToken, projectId: demo.projectId },
    });
    expect((await explicit.show(fixture(kimg, 'shared_member').id)).size).toBe(
      fixture(kimg, 'shared_member').size,
    );
    await expect(explicit.show(fixture(kimg, 'shared_pending').id)).rejects.toBeInstanceOf(ImageNotFound);
  });

  it('resolves through a registry with the request context getImageService hands in', async () => {
    const registry = new ImageServiceRegistry();
    register(registry, { auth: passwordAuth(ks.users.other), numRetries: 0 });
    const userToken = (await glance({ auth: passwordAuth(demo) }).client.getToken())!;
    const image = fixture(kimg, 'private_demo');
    const asOther = (await registry.resolve(image.id)) as GlanceImageService;
    made.push(asOther);
    await expect(asOther.show(image.id)).rejects.toBeInstanceOf(ImageNotFound);
    const asDemo = await registry.resolve(image.id, {
      context: { auth_token: userToken, project_id: demo.projectId },
    });
    expect((await asDemo.show(image.id)).size).toBe(image.size);
  });
});

describe('glance with keystone: configuration from clouds.yaml and OS_* variables', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glance-clouds-'));
    await writeFile(
      join(dir, 'clouds.yaml'),
      [
        'clouds:',
        '  peer:',
        '    auth:',
        `      auth_url: ${ks.url}`,
        '      username: demo',
        '      project_name: demo',
        '      user_domain_name: Default',
        '      project_domain_name: Default',
        `    region_name: ${ks.region}`,
        '    interface: public',
        '    identity_api_version: 3',
        '  peer-appcred:',
        '    auth_type: v3applicationcredential',
        '    auth:',
        `      auth_url: ${ks.authUrl}`,
        `      application_credential_id: ${ks.applicationCredential.id}`,
        '  peer-noauth:',
        '    auth_type: none',
        `    image_endpoint_override: ${noauth.url}`,
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'secure.yaml'),
      [
        'clouds:',
        '  peer:',
        '    auth:',
        `      password: ${demo.password}`,
        '  peer-appcred:',
        '    auth:',
        `      application_credential_secret: ${ks.applicationCredential.secret}`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({ HOME: dir, ...extra });

  it('OS_CLOUD with clouds.yaml and secure.yaml found in the working directory', async () => {
    const svc = glance(glanceOptionsFromEnv(env({ OS_CLOUD: 'peer' }), { cwd: dir }));
    const image = fixture(kimg, 'private_demo');
    const sink = hashingSink();
    await svc.download(image.id, sink.stream);
    expect(sink.result().sha256).toBe(await sha256File(image.file!));
  });

  it('OS_CLOUD with OS_CLIENT_CONFIG_FILE, an application credential and a no-auth cloud', async () => {
    const files = {
      OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml'),
      OS_CLIENT_SECURE_FILE: join(dir, 'secure.yaml'),
    };
    const appcred = glance(
      glanceOptionsFromEnv(env({ ...files, OS_CLOUD: 'peer-appcred' }), { cwd: tmpdir() }),
    );
    expect((await appcred.show(fixture(kimg, 'private_demo').id)).size).toBe(
      fixture(kimg, 'private_demo').size,
    );
    const none = glance(glanceOptionsFromEnv(env({ ...files, OS_CLOUD: 'peer-noauth' }), { cwd: tmpdir() }));
    expect((await none.show(noauthPublic.id)).size).toBe(noauthPublic.size);
  });

  it('OS_* variables of an openrc file, and OS_PASSWORD over a clouds.yaml without one', async () => {
    const openrc = {
      OS_AUTH_URL: ks.authUrl,
      OS_USERNAME: 'demo',
      OS_PASSWORD: demo.password,
      OS_PROJECT_NAME: 'demo',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: ks.region,
      OS_INTERFACE: 'internal',
      OS_IDENTITY_API_VERSION: '3',
    };
    const image = fixture(kimg, 'private_demo');
    expect((await glance(glanceOptionsFromEnv(env(openrc), { cwd: tmpdir() })).show(image.id)).size).toBe(
      image.size,
    );
    const cloudOnly = join(dir, 'no-secrets.yaml');
    await writeFile(
      cloudOnly,
      (await readFile(join(dir, 'clouds.yaml'), 'utf8')).replace(/^ {2}peer:/m, '  bare:'),
    );
    const merged = glanceOptionsFromEnv(
      env({ OS_CLIENT_CONFIG_FILE: cloudOnly, OS_CLOUD: 'bare', OS_PASSWORD: demo.password }),
      { cwd: tmpdir() },
    );
    expect((await glance(merged).show(image.id)).size).toBe(image.size);
    const wrong = await rejection(
      glance(
        glanceOptionsFromEnv(
          env({ OS_CLIENT_CONFIG_FILE: cloudOnly, OS_CLOUD: 'bare', OS_PASSWORD: 'nope-pw-1234' }),
          {
            cwd: tmpdir(),
          },
        ),
      ).show(image.id),
    );
    expect(wrong).toBeInstanceOf(ImageNotAuthorized);
    expect(renderError(wrong)).not.toContain('nope-pw-1234');
  });

  it('OS_TOKEN with OS_AUTH_TYPE=v3token and OS_APPLICATION_CREDENTIAL_* variables', async () => {
    const token = (await glance({ auth: passwordAuth(demo) }).client.getToken())!;
    const image = fixture(kimg, 'private_demo');
    const byToken = glanceOptionsFromEnv(
      env({ OS_AUTH_URL: ks.url, OS_AUTH_TYPE: 'v3token', OS_TOKEN: token, OS_PROJECT_ID: demo.projectId }),
      { cwd: tmpdir() },
    );
    expect((await glance(byToken).show(image.id)).size).toBe(image.size);
    const byCredential = glanceOptionsFromEnv(
      env({
        OS_AUTH_URL: ks.authUrl,
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_APPLICATION_CREDENTIAL_ID: ks.applicationCredential.id,
        OS_APPLICATION_CREDENTIAL_SECRET: ks.applicationCredential.secret,
      }),
      { cwd: tmpdir() },
    );
    expect((await glance(byCredential).show(image.id)).size).toBe(image.size);
  });
});
