import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';

interface CephPeer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const exec = promisify(execFile);
const ceph = peer<CephPeer>('ceph');
const app = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const bucket = `example-s3-only-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const key = 'os/disk one.img';
const image = randomBytes(3 * 1024 * 1024 + 17);
let dir: string;

/** A SigV4-signed request by curl, as an operator without the AWS SDK would make it. */
async function s3(method: string, path: string, ...args: string[]): Promise<void> {
  await exec('curl', [
    '-sf',
    '--aws-sigv4',
    `aws:amz:${ceph.region}:s3`,
    '--user',
    `${ceph.accessKeyId}:${ceph.secretAccessKey}`,
    '-H',
    'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    '-X',
    method,
    ...args,
    `${ceph.endpoint}${path}`,
  ]);
}

/** Runs the example app with the usual AWS variables pointing at radosgw. */
function runApp(...args: string[]) {
  return exec(process.execPath, [app, ...args], {
    env: {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL_S3: ceph.endpoint,
      AWS_REGION: ceph.region,
      AWS_ACCESS_KEY_ID: ceph.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
      IMAGE_SERVICE_S3_FORCE_PATH_STYLE: 'true',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'example-s3-only-'));
  await writeFile(join(dir, 'upload.img'), image);
  await s3('PUT', `/${bucket}`);
  await s3('PUT', `/${bucket}/os/disk%20one.img`, '--data-binary', `@${join(dir, 'upload.img')}`);
});

afterAll(async () => {
  await s3('DELETE', `/${bucket}/os/disk%20one.img`).catch(() => {});
  await s3('DELETE', `/${bucket}`).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('example app with only the core and the s3 driver, against radosgw', () => {
  it('shows and downloads an object given on the command line', async () => {
    const destination = join(dir, 'downloaded.img');
    const { stdout } = await runApp(`s3://${bucket}/${encodeURI(key)}`, destination);
    expect(JSON.parse(stdout.slice(0, stdout.lastIndexOf('}') + 1))).toMatchObject({ size: image.length });
    const sha256 = createHash('sha256').update(image).digest('hex');
    expect(stdout).toContain(`downloaded ${image.length} bytes to ${destination}, sha256 ${sha256}`);
    expect(
      createHash('sha256')
        .update(await readFile(destination))
        .digest('hex'),
    ).toBe(sha256);
  });

  it('exits 1 with the error code for a missing object, showing no credential', async () => {
    const failure = await runApp(`s3://${bucket}/no/such.img`).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('IMAGE_NOT_FOUND');
    expect(failure?.stderr).not.toContain(ceph.secretAccessKey);
  });
});
