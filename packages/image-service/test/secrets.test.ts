import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The built command, given credentials in its environment (http basic auth and a bearer token, AWS keys and a session
 * token, a Keystone password) and in its hrefs, against a server that quotes every request back, with debug logging on:
 * neither its output nor its errors show a credential, whatever the command and whatever fails.
 */

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const HTTP_PASSWORD = 'Zq-cli-http-Passw0rd';
const BEARER = 'Zq-cli-bearer-token';
const AWS_SECRET = 'Zq-cli-aws-secret-key-0001';
const AWS_TOKEN = 'Zq-cli-aws-session-token-0001';
const OS_PASSWORD = 'Zq-cli-keystone-Passw0rd';
const HREF_PASSWORD = 'Zq-cli-href-Passw0rd';
const HREF_SIGNATURE = 'Zq0cli0href0signature';
const HREF_TOKEN = 'Zq-cli-href-token';
const PLANTED = [
  HTTP_PASSWORD,
  BEARER,
  AWS_SECRET,
  AWS_TOKEN,
  OS_PASSWORD,
  HREF_PASSWORD,
  HREF_SIGNATURE,
  HREF_TOKEN,
];
const FORMS = [
  ...PLANTED,
  Buffer.from(`cliuser:${HTTP_PASSWORD}`).toString('base64'),
  Buffer.from(`alice:${HREF_PASSWORD}`).toString('base64'),
].flatMap((form) => [form, encodeURIComponent(form)]);

let server: Server;
let base = '';
let dir = '';

function quote(req: IncomingMessage, body: string): string {
  return `you sent ${req.method} ${req.url} ${JSON.stringify(req.headers)} ${body}`;
}

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = req.url ?? '';
  if (path.startsWith('/v3/')) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 401, message: quote(req, body) } }));
  } else if (path.startsWith('/ok.img')) {
    res.writeHead(200, { 'content-length': '5', etag: '"ok"', 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : 'hello');
  } else if (path.startsWith('/images/')) {
    const xml = `<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>${quote(req, body)}</Message><StringToSign>${req.headers.authorization}</StringToSign></Error>`;
    res.writeHead(403, {
      'content-type': 'application/xml',
      'content-length': String(Buffer.byteLength(xml)),
    });
    res.end(req.method === 'HEAD' ? undefined : xml);
  } else {
    res.writeHead(302, { location: `/elsewhere/${encodeURIComponent(quote(req, body))}` });
    res.end();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-cli-secrets-'));
  await writeFile(join(dir, 'disk.img'), 'image');
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    IMAGE_SERVICE_DEBUG: '*',
    IMAGE_SERVICE_HTTP_USER: 'cliuser',
    IMAGE_SERVICE_HTTP_PASSWORD: HTTP_PASSWORD,
    IMAGE_SERVICE_HTTP_HEADERS: `X-Auth-Token: ${BEARER}`,
    IMAGE_SERVICE_HTTP_RETRIES: '1',
    IMAGE_SERVICE_HTTP_RETRY_MAX_DELAY_MS: '10',
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_SESSION_TOKEN: AWS_TOKEN,
    AWS_REGION: 'us-east-1',
    AWS_MAX_ATTEMPTS: '1',
    AWS_ENDPOINT_URL_S3: base,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    IMAGE_SERVICE_S3_FORCE_PATH_STYLE: 'true',
    OS_AUTH_URL: `${base}/v3`,
    OS_USERNAME: 'demo',
    OS_PASSWORD,
    OS_PROJECT_NAME: 'demo',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({
        code: error ? Number((error as { code?: number }).code ?? 1) : 0,
        output: `${stdout}\n${stderr}`,
      });
    });
  });
}

describe('the image-service command with planted credentials', () => {
  it('never prints one, whatever it runs and whatever fails', async () => {
    const port = new URL(base).port;
    const hrefs = [
      `http://alice:${HREF_PASSWORD}@127.0.0.1:${port}/ok.img?X-Amz-Signature=${HREF_SIGNATURE}&token=${HREF_TOKEN}`,
      `http://alice:${HREF_PASSWORD}@127.0.0.1:${port}/missing.img?X-Amz-Signature=${HREF_SIGNATURE}`,
      `${base}/redirects.img?token=${HREF_TOKEN}`,
      `http://127.0.0.1:1/refused.img?X-Amz-Signature=${HREF_SIGNATURE}`,
      `http:\\\\alice:${HREF_PASSWORD}@127.0.0.1:${port}/ok.img`,
      's3://images/disk.img',
      `s3://AKIAFAKEFAKEFAKEFAKE:${HREF_PASSWORD}@images/disk.img`,
      '6a3ef1b2-0c4d-4e5f-8a9b-0c1d2e3f4a5b',
      `glance://admin:${HREF_PASSWORD}@127.0.0.1:${port}/6a3ef1b2-0c4d-4e5f-8a9b-0c1d2e3f4a5b`,
      `${pathToFileURL(join(dir, 'missing.img')).href}?token=${HREF_TOKEN}`,
    ];
    const runs: string[][] = [];
    for (const href of hrefs) {
      runs.push(
        ['show', href],
        ['validate', href, '--secret'],
        ['download', href, join(dir, 'out.img'), '--json', '--checksum', `sha256:${'0'.repeat(64)}`],
      );
    }
    const results = await Promise.all(runs.map((args) => run(args)));
    for (const [index, { output }] of results.entries()) {
      for (const form of FORMS) {
        expect(
          output.includes(form),
          `image-service ${runs[index]?.join(' ')} prints ${form}:\n${output}`,
        ).toBe(false);
      }
    }
    // Most runs fail, one href is served: both kinds of output were checked.
    expect(results.filter((result) => result.code === 1).length).toBeGreaterThan(20);
    expect(results.filter((result) => result.code === 0).length).toBeGreaterThan(0);
    expect(await readdir(dir)).toEqual(['disk.img']);
  });
});
