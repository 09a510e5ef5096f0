import { commandContender, libraryContender } from '../contenders.js';
import type { BenchContext } from '../context.js';
import { measureThroughput } from '../measure.js';
import type { OpenstackInfo } from '../peers.js';
import { run } from '../process.js';
import { formatBytes } from '../stats.js';
import { toolPath } from '../tools.js';
import type { ThroughputCase } from '../types.js';

async function glanceJson(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * glance: the image uploaded to the openstack peer's Glance (noauth, file store; deleted at the end), downloaded by
 * image-service's library (verifying the os_hash_value Glance publishes, as by default, and without) and by curl of
 * the same /v2/images/{id}/file.
 */
export async function glanceCase(context: BenchContext): Promise<ThroughputCase> {
  const glance = context.peers.info<OpenstackInfo>('openstack').glanceNoAuth.url;
  const created = await glanceJson(`${glance}/v2/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: `image-service-bench-${process.pid}`,
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
    }),
  });
  const id = String(created.id);
  context.cleanup.add(`delete Glance image ${id}`, () =>
    glanceJson(`${glance}/v2/images/${id}`, { method: 'DELETE' }),
  );
  console.error(`[glance] uploading ${formatBytes(context.image.size)} as image ${id}`);
  await run(
    toolPath('curl'),
    [
      '-sS',
      '--fail',
      '--noproxy',
      '*',
      '-X',
      'PUT',
      '-H',
      'content-type: application/octet-stream',
      '-T',
      context.image.path,
      `${glance}/v2/images/${id}/file`,
    ],
    { env: context.env, timeoutMs: 900_000 },
  );
  const info = await glanceJson(`${glance}/v2/images/${id}`);
  if (info.status !== 'active' || info.size !== context.image.size) {
    throw new Error(`the uploaded Glance image is ${String(info.status)} with size ${String(info.size)}`);
  }
  const env = { OS_IMAGE_URL: glance };
  const href = `glance://${id}`;
  const fileUrl = `${glance}/v2/images/${id}/file`;
  return measureThroughput({
    id: 'glance',
    title: 'glance: Glance (noauth, file store) over loopback to the local disk',
    description:
      "The image uploaded to the openstack peer's Glance API without Keystone (noauth), downloaded to a fresh file on " +
      'the local disk each run. By default image-service verifies the sha512 os_hash_value Glance publishes while ' +
      'it streams; curl verifies nothing.',
    image: context.image,
    reference: 'image-service',
    rounds: context.options.rounds,
    destDir: context.destDir,
    verifyAll: context.options.verifyAll,
    contenders: [
      libraryContender(context, {
        id: 'image-service',
        label: "image-service library (verifies Glance's sha512)",
        href,
        env,
      }),
      libraryContender(context, {
        id: 'image-service-no-verify',
        label: 'image-service library, verifyStoreChecksum: false',
        href,
        env,
        options: { verifyStoreChecksum: false },
      }),
      commandContender(context, {
        id: 'curl',
        label: 'curl',
        kind: 'peer',
        command: toolPath('curl'),
        args: (dest) => ['-sS', '--fail', '--noproxy', '*', '-o', dest, fileUrl],
      }),
    ],
  });
}
