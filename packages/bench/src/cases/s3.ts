import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliContender, commandContender, libraryContender } from '../contenders.js';
import type { BenchContext } from '../context.js';
import { type Image, makeRandomImage } from '../images.js';
import { measureThroughput } from '../measure.js';
import type { CephInfo } from '../peers.js';
import { run } from '../process.js';
import { formatBytes } from '../stats.js';
import { AWS_CLI } from '../tools.js';
import type { ThroughputCase } from '../types.js';

/** The largest object the bench puts into radosgw (its memstore holds 6 GiB and hangs writes when full). */
export const S3_MAX_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * s3: one object in the ceph peer's radosgw (uploaded with the AWS CLI, deleted at the end), downloaded by image-service
 * (library, command) and by `/usr/bin/aws s3 cp`.
 */
export async function s3Case(context: BenchContext): Promise<ThroughputCase> {
  const ceph = context.peers.info<CephInfo>('ceph');
  let image: Image = context.image;
  if (image.size > S3_MAX_BYTES) {
    image = await makeRandomImage(join(context.workDir, 's3.img'), S3_MAX_BYTES);
    context.notes.push(
      `s3 used a ${formatBytes(S3_MAX_BYTES)} object, not ${formatBytes(context.image.size)}: the ceph peer's memstore holds 6 GiB.`,
    );
  }
  const configFile = join(context.workDir, 'aws-config');
  await writeFile(configFile, `[default]\nregion = ${ceph.region}\ns3 =\n  addressing_style = path\n`);
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: ceph.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
    AWS_REGION: ceph.region,
    AWS_DEFAULT_REGION: ceph.region,
    AWS_ENDPOINT_URL_S3: ceph.endpoint,
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: join(context.workDir, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    IMAGE_SERVICE_S3_FORCE_PATH_STYLE: '1',
  };
  const aws = (args: string[], timeoutMs = 600_000) =>
    run(AWS_CLI, ['--endpoint-url', ceph.endpoint, ...args], { env: { ...context.env, ...env }, timeoutMs });
  const bucket = `image-service-bench-${process.pid}`;
  const href = `s3://${bucket}/image.img`;
  await aws(['s3', 'mb', `s3://${bucket}`], 60_000);
  context.cleanup.add(`delete ${bucket}`, () => aws(['s3', 'rb', '--force', `s3://${bucket}`], 300_000));
  console.error(`[s3] uploading ${formatBytes(image.size)} to ${href}`);
  await aws(['s3', 'cp', '--only-show-errors', '--no-progress', image.path, href]).catch((error) => {
    throw new Error(
      `uploading to radosgw failed (a full memstore hangs writes: is the ceph peer near its 6 GiB?): ${(error as Error).message}`,
    );
  });
  return measureThroughput({
    id: 's3',
    title: 's3: radosgw over loopback to the local disk',
    description:
      'One object in the ceph peer (radosgw, memstore), downloaded to a fresh file on the local disk each run, with the ' +
      "drivers' defaults (image-service's s3 driver fetches objects of 16 MiB and more as 8 MiB ranges, 4 at once; " +
      'the AWS CLI as 8 MiB parts, 10 at once).',
    image,
    reference: 'image-service',
    rounds: context.options.rounds,
    destDir: context.destDir,
    verifyAll: context.options.verifyAll,
    contenders: [
      libraryContender(context, { id: 'image-service', label: 'image-service library', href, env }),
      cliContender(context, { href, env }),
      commandContender(context, {
        id: 'aws',
        label: 'aws s3 cp (AWS CLI v2, Debian)',
        kind: 'peer',
        command: AWS_CLI,
        args: (dest) => [
          '--endpoint-url',
          ceph.endpoint,
          's3',
          'cp',
          '--only-show-errors',
          '--no-progress',
          href,
          dest,
        ],
        env,
      }),
    ],
  });
}
