import { basename, dirname, join } from 'node:path';
import { cliContender, commandContender, libraryContender, runRunner } from '../contenders.js';
import { type BenchContext, placeImage } from '../context.js';
import { type Contender, measureThroughput } from '../measure.js';
import type { NginxInfo } from '../peers.js';
import { toolPath } from '../tools.js';
import type { ThroughputCase } from '../types.js';

/** The parallel settings the `parallel` row passes to `downloadToFile`. */
export const PARALLEL = { partSize: 8 * 1024 * 1024, concurrency: 4, threshold: 0 };

/** Serves the bench image from nginx's docroot; resolves with its URL. */
export async function serveImage(context: BenchContext, path: string, name: string): Promise<string> {
  const nginx = context.peers.info<NginxInfo>('nginx');
  await placeImage(context, path, join(nginx.docroot, name));
  return `${nginx.httpUrl}/${name}`;
}

/**
 * http: one image served by nginx over loopback, written to the local disk by image-service (library: default, with
 * parallel ranges, with a checksum to verify; command) and by curl, curl + fsync, wget, aria2c -x4 and a plain Node
 * pipeline, in the same rounds.
 */
export async function httpCase(context: BenchContext): Promise<ThroughputCase> {
  const url = await serveImage(context, context.image.path, `image-service-bench-${process.pid}.img`);
  const curl = toolPath('curl');
  const contenders: Contender[] = [
    libraryContender(context, {
      id: 'image-service',
      label: 'image-service library (default options)',
      href: url,
    }),
    libraryContender(context, {
      id: 'image-service-parallel',
      label: 'image-service library, parallel ranges (8 MiB x 4)',
      href: url,
      options: { parallel: PARALLEL },
    }),
    libraryContender(context, {
      id: 'image-service-checksum',
      label: 'image-service library, verifying a sha256',
      href: url,
      options: { checksum: { algorithm: 'sha256', value: context.image.sha256 } },
    }),
    cliContender(context, { href: url }),
    commandContender(context, {
      id: 'curl',
      label: 'curl',
      kind: 'peer',
      command: curl,
      args: (dest) => ['-sS', '--fail', '--noproxy', '*', '-o', dest, url],
    }),
    commandContender(context, {
      id: 'curl-fsync',
      label: 'curl, then sync the file (what image-service pays for durability)',
      kind: 'baseline',
      command: 'bash',
      args: (dest) => ['-c', `"$0" -sS --fail --noproxy '*' -o "$1" "$2" && sync "$1"`, curl, dest, url],
      display: `curl -sS --fail --noproxy '*' -o <dest> ${url} && sync <dest>`,
    }),
    commandContender(context, {
      id: 'wget',
      label: 'wget',
      kind: 'peer',
      command: toolPath('wget'),
      args: (dest) => ['--no-config', '-q', '--no-proxy', '-O', dest, url],
    }),
    commandContender(context, {
      id: 'aria2c',
      label: 'aria2c, 4 connections',
      kind: 'peer',
      command: toolPath('aria2c'),
      args: (dest) => [
        '--no-conf',
        '-q',
        '-x4',
        '-s4',
        '-k1M',
        '--file-allocation=none',
        '--allow-overwrite=true',
        '--auto-file-renaming=false',
        '-d',
        dirname(dest),
        '-o',
        basename(dest),
        url,
      ],
      display: `aria2c --no-conf -q -x4 -s4 -k1M --file-allocation=none --allow-overwrite=true --auto-file-renaming=false -d <dir> -o <name> ${url}`,
    }),
    {
      id: 'node-pipeline',
      label: 'plain Node: pipeline(undici body, fs.createWriteStream)',
      kind: 'baseline',
      command: 'pipeline((await undici.request(url)).body, fs.createWriteStream(<dest>))',
      async run(dest) {
        const { output, wallMs, peakRssKiB } = await runRunner<{ ms: number }>(context, {
          op: 'pipeline',
          url,
          dest,
        });
        return { ms: output.ms, wallMs, peakRssKiB };
      },
    },
  ];
  return measureThroughput({
    id: 'http',
    title: 'http: nginx over loopback to the local disk',
    description:
      'One random image served by the nginx peer over loopback, written to a fresh file on the local disk each run. ' +
      'The library rows are timed around downloadToFile in a fresh Node process (which also fsyncs the file before ' +
      'renaming it into place); the command and the other tools by their process wall time. The parallel row passes ' +
      `parallel: ${JSON.stringify(PARALLEL)}; the checksum row passes the image's sha256 to verify.`,
    image: context.image,
    reference: 'image-service',
    contenders,
    rounds: context.options.rounds,
    destDir: context.destDir,
    verifyAll: context.options.verifyAll,
  });
}
