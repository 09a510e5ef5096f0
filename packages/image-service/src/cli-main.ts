import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type DownloadOptions,
  downloadToFile,
  type ImageInfo,
  isImageServiceError,
  parseChecksum,
  redactHref,
  redactUrlsIn,
} from '@image-service/core';
import { createImageServiceRegistry } from './defaults.js';
import { formatBytes, ProgressReporter } from './progress.js';

/** Where the command reads its environment and writes its output. */
export interface CliIo {
  /** Standard output. */
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Standard error (progress and errors). */
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** The environment drivers read their settings from. */
  env: NodeJS.ProcessEnv;
  /** Aborts a running operation (Ctrl-C). */
  signal?: AbortSignal;
}

/** The command's exit codes. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const USAGE = `Usage: image-service <command> [options]

Commands:
  show <href> [--json]                 Size, last change, digest and properties of an image
  download <href> <dest>               Download an image to a file, atomically
      [--checksum <alg>:<hex>]         Verify the bytes (md5, sha1, sha256, sha512; a bare hex digest is inferred)
      [--compute <alg>]                Compute a digest and print it
      [--no-progress] [--json]
  validate <href> [--secret] [--json]  Check that an href is well formed and reachable
  schemes [--json]                     The schemes that can be downloaded

Hrefs: file:///path, http(s)://..., s3://bucket/key, glance://<uuid>, or a bare Glance image UUID.

Transfer options:
  --retries <n>            Retries after transient failures (default 5)
  --idle-timeout <ms>      Fail an attempt when no byte arrives for this long (default 60000)

Driver options (each is also an environment variable, shown in brackets):
  --allowed-path <dir>     file: a directory images may come from; repeatable [IMAGE_SERVICE_FILE_ALLOWED_PATHS]
  --no-hard-link           file: copy instead of hard linking [IMAGE_SERVICE_FILE_HARD_LINK=0]
  --ca <file>              http(s): a CA bundle (PEM) to trust [IMAGE_SERVICE_HTTP_CA]
  --insecure               http(s): do not verify TLS certificates [IMAGE_SERVICE_HTTP_INSECURE=1]
  --user <name>            http(s): basic auth user [IMAGE_SERVICE_HTTP_USER]
                           (the password only from IMAGE_SERVICE_HTTP_PASSWORD, never a flag)
  --connect-timeout <ms>   http(s): connect timeout [IMAGE_SERVICE_HTTP_CONNECT_TIMEOUT_MS]
  --tls-min-version <v>    http(s): TLSv1.2 or TLSv1.3 [IMAGE_SERVICE_HTTP_TLS_MIN_VERSION]
  --endpoint-url <url>     s3: an S3-compatible endpoint [IMAGE_SERVICE_S3_ENDPOINT, AWS_ENDPOINT_URL_S3]
  --region <name>          s3: the region [IMAGE_SERVICE_S3_REGION, AWS_REGION]
  --profile <name>         s3: a profile of the shared AWS config [IMAGE_SERVICE_S3_PROFILE, AWS_PROFILE]
  --path-style             s3: path-style addressing [IMAGE_SERVICE_S3_FORCE_PATH_STYLE=1]
                           (credentials from the AWS chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles)
  --os-cloud <name>        glance: a cloud of clouds.yaml [OS_CLOUD]
  --image-url <url>        glance: the image endpoint, skipping Keystone [OS_IMAGE_URL]
                           (Keystone from OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ... as
                           the openstack client reads them, or an OpenStack rc file sourced beforehand)

  -h, --help               This help
  -v, --version            The version

Exit status: 0 success, 1 an image-service error (printed as one line: its code and message), 2 bad usage.
Debug logs (redacted) on stderr: IMAGE_SERVICE_DEBUG='image-service:*'.`;

const OPTIONS = {
  json: { type: 'boolean' },
  checksum: { type: 'string' },
  compute: { type: 'string' },
  'no-progress': { type: 'boolean' },
  secret: { type: 'boolean' },
  retries: { type: 'string' },
  'idle-timeout': { type: 'string' },
  'allowed-path': { type: 'string', multiple: true },
  'no-hard-link': { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  user: { type: 'string' },
  'connect-timeout': { type: 'string' },
  'tls-min-version': { type: 'string' },
  'endpoint-url': { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  'path-style': { type: 'boolean' },
  'os-cloud': { type: 'string' },
  'image-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

class UsageError extends Error {}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** The environment the drivers see: the caller's, with the driver flags laid over it. */
function driverEnv(values: Values, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) out[name] = value;
  };
  if (values['allowed-path']) set('IMAGE_SERVICE_FILE_ALLOWED_PATHS', values['allowed-path'].join(':'));
  if (values['no-hard-link']) set('IMAGE_SERVICE_FILE_HARD_LINK', '0');
  set('IMAGE_SERVICE_HTTP_CA', values.ca);
  if (values.insecure) set('IMAGE_SERVICE_HTTP_INSECURE', '1');
  set('IMAGE_SERVICE_HTTP_USER', values.user);
  set('IMAGE_SERVICE_HTTP_CONNECT_TIMEOUT_MS', values['connect-timeout']);
  set('IMAGE_SERVICE_HTTP_TLS_MIN_VERSION', values['tls-min-version']);
  set('IMAGE_SERVICE_S3_ENDPOINT', values['endpoint-url']);
  set('IMAGE_SERVICE_S3_REGION', values.region);
  set('IMAGE_SERVICE_S3_PROFILE', values.profile);
  if (values['path-style']) set('IMAGE_SERVICE_S3_FORCE_PATH_STYLE', '1');
  set('OS_CLOUD', values['os-cloud']);
  set('OS_IMAGE_URL', values['image-url']);
  return out;
}

function wholeNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} takes a whole number, not "${text}"`);
  return Number(text);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function describeInfo(href: string, info: ImageInfo): string {
  const rows: Array<[string, string]> = [
    ['size', `${info.size} (${formatBytes(info.size)})`],
    ['updated_at', info.updatedAt ? info.updatedAt.toISOString() : '-'],
  ];
  if (info.etag) rows.push(['etag', info.etag]);
  if (info.checksum) rows.push(['checksum', `${info.checksum.algorithm}:${info.checksum.value}`]);
  if (info.noCache !== undefined) rows.push(['no_cache', String(info.noCache)]);
  rows.push(['properties', JSON.stringify(info.properties)]);
  return [`image ${redactHref(href)}`, ...rows.map(([k, v]) => `  ${k.padEnd(11)} ${v}`)].join('\n');
}

/** Runs the `image-service` command with `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    io.stderr.write(`image-service: ${(error as Error).message}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  if (values.version) {
    io.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }
  const [command, ...args] = positionals;
  const registry = createImageServiceRegistry({ env: driverEnv(values, io.env) });
  const arity: Record<string, number> = { show: 1, download: 2, validate: 1, schemes: 0 };
  try {
    if (command === undefined) throw new UsageError('a command is needed');
    if (!(command in arity)) throw new UsageError(`unknown command "${command}"`);
    if (args.length !== arity[command]) {
      throw new UsageError(`${command} takes ${arity[command]} argument${arity[command] === 1 ? '' : 's'}`);
    }
    const signal = io.signal;
    switch (command) {
      case 'schemes': {
        const schemes = registry.schemes();
        io.stdout.write(values.json ? `${JSON.stringify(schemes)}\n` : `${schemes.join('\n')}\n`);
        return ExitCode.ok;
      }
      case 'show': {
        const href = args[0] as string;
        const info = await (await registry.resolve(href)).show(href, { signal });
        io.stdout.write(values.json ? `${JSON.stringify(info)}\n` : `${describeInfo(href, info)}\n`);
        return ExitCode.ok;
      }
      case 'validate': {
        const href = args[0] as string;
        await (await registry.resolve(href)).validateHref(href, { secret: values.secret, signal });
        io.stdout.write(values.json ? `${JSON.stringify({ valid: true })}\n` : 'valid\n');
        return ExitCode.ok;
      }
      default: {
        const [href, dest] = args as [string, string];
        const options: DownloadOptions = { signal };
        if (values.checksum !== undefined) {
          try {
            options.checksum = parseChecksum(values.checksum);
          } catch (error) {
            throw new UsageError(`--checksum: ${(error as Error).message}`);
          }
        }
        if (values.compute !== undefined) options.computeChecksum = parseAlgorithm(values.compute);
        const retries = wholeNumber('retries', values.retries);
        if (retries !== undefined) options.retry = { retries };
        const idle = wholeNumber('idle-timeout', values['idle-timeout']);
        if (idle !== undefined) options.idleTimeoutMs = idle;
        const reporter = values['no-progress'] ? undefined : new ProgressReporter(io.stderr);
        if (reporter) options.onProgress = (p) => reporter.update(p);
        const started = Date.now();
        const service = await registry.resolve(href);
        try {
          const result = await downloadToFile(service, href, dest, options);
          reporter?.finish();
          const seconds = Math.max((Date.now() - started) / 1000, 0.001);
          if (values.json) {
            io.stdout.write(`${JSON.stringify({ ...result, destination: dest, seconds })}\n`);
          } else {
            const digest = result.checksum ? `, ${result.checksum.algorithm}:${result.checksum.value}` : '';
            const verified = options.checksum ? ' (verified)' : '';
            io.stdout.write(
              `downloaded ${formatBytes(result.bytes)} to ${dest} in ${seconds.toFixed(2)} s ` +
                `(${formatBytes(result.bytes / seconds)}/s)${digest}${verified}\n`,
            );
          }
        } finally {
          reporter?.finish();
        }
        return ExitCode.ok;
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`image-service: ${error.message}\n\n${USAGE}\n`);
      return ExitCode.usage;
    }
    if (isImageServiceError(error)) {
      io.stderr.write(`image-service: ${error.code}: ${error.message}\n`);
      return io.signal?.aborted ? ExitCode.interrupted : ExitCode.failed;
    }
    io.stderr.write(
      `image-service: unexpected error: ${redactUrlsIn(String((error as Error)?.stack ?? error))}\n`,
    );
    return ExitCode.failed;
  }
}

function parseAlgorithm(text: string): 'md5' | 'sha1' | 'sha256' | 'sha512' {
  const name = text.toLowerCase();
  if (name === 'md5' || name === 'sha1' || name === 'sha256' || name === 'sha512') return name;
  throw new UsageError(`--compute takes md5, sha1, sha256 or sha512, not "${text}"`);
}
