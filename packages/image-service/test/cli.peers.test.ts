import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';

/** The built command against the real peers, configured the way their users configure their own tools. */

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command with only the environment given (plus PATH and HOME), from `cwd`. */
function run(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bytes = randomBytes(3 * 1024 * 1024 + 11);
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-cli-peers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('image-service download over https (nginx)', () => {
  const nginx = peer<{
    httpsUrl: string;
    caFile: string;
    docroot: string;
    basicAuth: { user: string; password: string };
  }>('nginx');
  const name = `cli-peers-${process.pid}.img`;

  beforeAll(async () => {
    await writeFile(join(nginx.docroot, 'private', name), bytes);
  });
  afterAll(async () => {
    await rm(join(nginx.docroot, 'private', name), { force: true });
  });

  it('verifies TLS with --ca and authenticates from the environment, never printing the password', async () => {
    const dest = join(dir, 'https.img');
    const href = `${nginx.httpsUrl}/private/${name}`;
    const env = { IMAGE_SERVICE_HTTP_PASSWORD: nginx.basicAuth.password };
    const ok = await run(
      [
        'download',
        href,
        dest,
        '--ca',
        nginx.caFile,
        '--user',
        nginx.basicAuth.user,
        '--checksum',
        `sha256:${sha256(bytes)}`,
      ],
      env,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(sha256(await readFile(dest))).toBe(sha256(bytes));
    const untrusted = await run(['show', href, '--user', nginx.basicAuth.user], env);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('TLS certificate verification failed');
    const wrong = await run(['show', href, '--ca', nginx.caFile, '--user', nginx.basicAuth.user], {
      IMAGE_SERVICE_HTTP_PASSWORD: 'not-the-password-42',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^image-service: IMAGE_NOT_AUTHORIZED: /);
    for (const output of [ok, untrusted, wrong]) {
      expect(output.stdout + output.stderr).not.toContain(nginx.basicAuth.password);
      expect(output.stdout + output.stderr).not.toContain('not-the-password-42');
    }
  });
});

describe('image-service show and download s3:// (radosgw)', () => {
  const ceph = peer<{ endpoint: string; region: string; accessKeyId: string; secretAccessKey: string }>(
    'ceph',
  );
  const bucket = `cli-peers-${process.pid}`;
  const key = 'images/disk one.img';
  const client = new S3Client({
    endpoint: ceph.endpoint,
    region: ceph.region,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const aws = {
    AWS_ACCESS_KEY_ID: ceph.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
    AWS_REGION: ceph.region,
  };

  beforeAll(async () => {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
  });
  afterAll(async () => {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  });

  it('works with the usual AWS variables and the endpoint and path-style flags', async () => {
    const href = `s3://${bucket}/images/disk%20one.img`;
    const flags = ['--endpoint-url', ceph.endpoint, '--path-style'];
    const shown = await run(['show', href, '--json', ...flags], aws);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).size).toBe(bytes.byteLength);
    const dest = join(dir, 's3.img');
    const got = await run(['download', href, dest, '--no-progress', ...flags], aws);
    expect(got.code, got.stderr).toBe(0);
    expect(sha256(await readFile(dest))).toBe(sha256(bytes));
    const denied = await run(['show', href, ...flags], {
      ...aws,
      AWS_SECRET_ACCESS_KEY: 'wrong-secret-key-0000',
    });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^image-service: IMAGE_NOT_AUTHORIZED: /);
    for (const output of [shown, got, denied]) {
      expect(output.stdout + output.stderr).not.toContain(ceph.secretAccessKey);
      expect(output.stdout + output.stderr).not.toContain('wrong-secret-key-0000');
    }
  });
});

describe('image-service show and download glance images (Keystone and Glance)', () => {
  const openstack = peer<{
    keystone: {
      authUrl: string;
      region: string;
      users: Record<string, { name: string; password: string; project: string }>;
    };
    glanceKeystone: { images: Record<string, { id: string; size: number; os_hash_value: string }> };
  }>('openstack');
  const demo = openstack.keystone.users.demo as { name: string; password: string; project: string };
  const image = openstack.glanceKeystone.images.public as { id: string; size: number; os_hash_value: string };
  const rcFile = {
    OS_AUTH_URL: openstack.keystone.authUrl,
    OS_USERNAME: demo.name,
    OS_PASSWORD: demo.password,
    OS_PROJECT_NAME: demo.project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: openstack.keystone.region,
    OS_INTERFACE: 'public',
  };

  it('works with the variables of an OpenStack rc file, for a bare UUID and a glance:// href', async () => {
    const shown = await run(['show', image.id, '--json'], rcFile);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).checksum).toEqual({ algorithm: 'sha512', value: image.os_hash_value });
    const dest = join(dir, 'glance.img');
    const got = await run(['download', `glance://${image.id}`, dest, '--no-progress'], rcFile);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain(`sha512:${image.os_hash_value}`);
    expect((await readFile(dest)).byteLength).toBe(image.size);
    const wrong = await run(['show', image.id], { ...rcFile, OS_PASSWORD: 'wrong-keystone-password' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^image-service: IMAGE_NOT_AUTHORIZED: /);
    for (const output of [shown, got, wrong]) {
      expect(output.stdout + output.stderr).not.toContain(demo.password);
      expect(output.stdout + output.stderr).not.toContain('wrong-keystone-password');
    }
  });

  it('works with clouds.yaml and --os-cloud', async () => {
    const cloudDir = await mkdtemp(join(dir, 'cloud-'));
    await writeFile(
      join(cloudDir, 'clouds.yaml'),
      [
        'clouds:',
        '  testcloud:',
        '    auth:',
        `      auth_url: ${openstack.keystone.authUrl}`,
        `      username: ${demo.name}`,
        `      password: "${demo.password}"`,
        `      project_name: ${demo.project}`,
        '      user_domain_name: Default',
        '      project_domain_name: Default',
        `    region_name: ${openstack.keystone.region}`,
        '',
      ].join('\n'),
    );
    const shown = await run(
      ['show', image.id.replace(/-/g, '').toUpperCase(), '--os-cloud', 'testcloud', '--json'],
      {},
      cloudDir,
    );
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).size).toBe(image.size);
  });
});
