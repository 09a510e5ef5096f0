import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  clientConfigFor,
  DEFAULT_CONCURRENCY,
  DEFAULT_PARALLEL_THRESHOLD,
  DEFAULT_PART_SIZE,
  S3ImageService,
  type S3Options,
  s3OptionsFromEnv,
} from '../src/index.js';

class Exposed extends S3ImageService {
  defaults() {
    return this.parallelDefaults();
  }
}

describe('s3OptionsFromEnv', () => {
  it('reads nothing from an empty environment', () => {
    expect(s3OptionsFromEnv({})).toEqual({});
  });

  it('takes the endpoint from IMAGE_SERVICE_S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL', () => {
    expect(s3OptionsFromEnv({ AWS_ENDPOINT_URL: 'http://a:1' }).endpoint).toBe('http://a:1');
    expect(
      s3OptionsFromEnv({ AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://b:2' }).endpoint,
    ).toBe('http://b:2');
    expect(
      s3OptionsFromEnv({ AWS_ENDPOINT_URL_S3: 'http://b:2', IMAGE_SERVICE_S3_ENDPOINT: 'https://c:3' })
        .endpoint,
    ).toBe('https://c:3');
    expect(
      s3OptionsFromEnv({ AWS_ENDPOINT_URL_S3: 'http://b:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })
        .endpoint,
    ).toBeUndefined();
  });

  it('takes the region, path style, profile and checksum settings', () => {
    expect(
      s3OptionsFromEnv({
        AWS_DEFAULT_REGION: 'eu-west-1',
        IMAGE_SERVICE_S3_FORCE_PATH_STYLE: 'yes',
        AWS_PROFILE: 'ceph',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_SUPPORTED',
      }),
    ).toEqual({
      region: 'eu-west-1',
      forcePathStyle: true,
      profile: 'ceph',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_SUPPORTED',
    });
    expect(s3OptionsFromEnv({ AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-west-1' }).region).toBe(
      'us-west-2',
    );
    expect(s3OptionsFromEnv({ AWS_REGION: 'us-west-2', IMAGE_SERVICE_S3_REGION: 'x-1' }).region).toBe('x-1');
    expect(s3OptionsFromEnv({ IMAGE_SERVICE_S3_FORCE_PATH_STYLE: '0' }).forcePathStyle).toBe(false);
    expect(s3OptionsFromEnv({ AWS_PROFILE: 'a', IMAGE_SERVICE_S3_PROFILE: 'b' }).profile).toBe('b');
  });

  it('takes the parallel settings, with K/M/G suffixes', () => {
    expect(
      s3OptionsFromEnv({
        IMAGE_SERVICE_S3_PART_SIZE: '16MiB',
        IMAGE_SERVICE_S3_CONCURRENCY: '8',
        IMAGE_SERVICE_S3_PARALLEL_THRESHOLD: '1g',
      }),
    ).toEqual({ partSize: 16 * 1024 ** 2, concurrency: 8, parallelThreshold: 1024 ** 3 });
    expect(s3OptionsFromEnv({ IMAGE_SERVICE_S3_PART_SIZE: '65536' }).partSize).toBe(65536);
  });

  it('reads AWS_CA_BUNDLE as PEM text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3-options-'));
    try {
      const file = join(dir, 'ca.pem');
      await writeFile(file, '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n');
      expect(s3OptionsFromEnv({ AWS_CA_BUNDLE: file }).ca).toContain('BEGIN CERTIFICATE');
      expect(() => s3OptionsFromEnv({ AWS_CA_BUNDLE: join(dir, 'missing.pem') })).toThrow(
        /AWS_CA_BUNDLE.*ENOENT/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the variable whose value is malformed', () => {
    expect(() => s3OptionsFromEnv({ IMAGE_SERVICE_S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(
      /IMAGE_SERVICE_S3_FORCE_PATH_STYLE/,
    );
    expect(() => s3OptionsFromEnv({ AWS_REQUEST_CHECKSUM_CALCULATION: 'ALWAYS' })).toThrow(
      /AWS_REQUEST_CHECKSUM_CALCULATION/,
    );
    expect(() => s3OptionsFromEnv({ IMAGE_SERVICE_S3_PART_SIZE: 'big' })).toThrow(
      /IMAGE_SERVICE_S3_PART_SIZE/,
    );
    expect(() => s3OptionsFromEnv({ IMAGE_SERVICE_S3_CONCURRENCY: '0' })).toThrow(
      /IMAGE_SERVICE_S3_CONCURRENCY/,
    );
    expect(() => s3OptionsFromEnv({ AWS_ENDPOINT_URL_S3: 'ftp://x' })).toThrow(/http\(s\) URL/);
    expect(() => s3OptionsFromEnv({ AWS_ENDPOINT_URL_S3: 'http://key:secret@host' })).toThrow(/credentials/);
  });

  it('never copies credentials into the options', () => {
    const options = s3OptionsFromEnv({
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'token-token-token',
    });
    expect(options).toEqual({});
  });
});

describe('clientConfigFor', () => {
  it('defaults the checksum settings to WHEN_REQUIRED for a custom endpoint only', () => {
    const custom = clientConfigFor({ endpoint: 'http://127.0.0.1:7480' }, {});
    expect(custom.requestChecksumCalculation).toBe('WHEN_REQUIRED');
    expect(custom.responseChecksumValidation).toBe('WHEN_REQUIRED');
    const fromEnv = clientConfigFor({}, { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7480' });
    expect(fromEnv.endpoint).toBe('http://127.0.0.1:7480');
    expect(fromEnv.requestChecksumCalculation).toBe('WHEN_REQUIRED');
    const aws = clientConfigFor({}, {});
    expect(aws.endpoint).toBeUndefined();
    expect(aws.requestChecksumCalculation).toBeUndefined();
    expect(aws.responseChecksumValidation).toBeUndefined();
  });

  it('lets explicit options and the SDK variables override that default', () => {
    const explicit = clientConfigFor(
      {
        endpoint: 'http://h',
        requestChecksumCalculation: 'WHEN_SUPPORTED',
        responseChecksumValidation: 'WHEN_SUPPORTED',
      },
      {},
    );
    expect(explicit.requestChecksumCalculation).toBe('WHEN_SUPPORTED');
    expect(explicit.responseChecksumValidation).toBe('WHEN_SUPPORTED');
    const env = clientConfigFor(
      { endpoint: 'http://h' },
      {
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_SUPPORTED',
      },
    );
    expect(env.requestChecksumCalculation).toBeUndefined();
    expect(env.responseChecksumValidation).toBeUndefined();
  });

  it('passes the explicit options through, over clientConfig', () => {
    const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret-secret' };
    const config = clientConfigFor(
      {
        region: 'eu-central-1',
        forcePathStyle: true,
        credentials,
        profile: 'p',
        maxAttempts: 7,
        followRegionRedirects: false,
        clientConfig: { region: 'ignored', maxAttempts: 2, useDualstackEndpoint: true },
      },
      {},
    );
    expect(config).toMatchObject({
      region: 'eu-central-1',
      forcePathStyle: true,
      credentials,
      profile: 'p',
      maxAttempts: 7,
      followRegionRedirects: false,
      useDualstackEndpoint: true,
    });
    expect(clientConfigFor({}, {}).followRegionRedirects).toBe(true);
  });
});

describe('S3ImageService options', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('rejects malformed options', () => {
    expect(() => new S3ImageService({ partSize: 0 })).toThrow(/partSize/);
    expect(() => new S3ImageService({ partSize: 1000 })).toThrow(/partSize must be at least 64 KiB/);
    expect(() => new S3ImageService({ concurrency: 1.5 })).toThrow(/concurrency/);
    expect(() => new S3ImageService({ endpoint: 'not a url' })).toThrow(/endpoint/);
    expect(
      () =>
        new S3ImageService({
          requestChecksumCalculation: 'NEVER' as S3Options['requestChecksumCalculation'],
        }),
    ).toThrow(/requestChecksumCalculation/);
  });

  it('reports the parallel defaults, or the options given', () => {
    expect(new Exposed().defaults()).toEqual({
      partSize: DEFAULT_PART_SIZE,
      concurrency: DEFAULT_CONCURRENCY,
      threshold: DEFAULT_PARALLEL_THRESHOLD,
    });
    expect(DEFAULT_PART_SIZE).toBe(8 * 1024 * 1024);
    expect(new Exposed({ partSize: 1 << 20, concurrency: 2, parallelThreshold: 1 << 21 }).defaults()).toEqual(
      {
        partSize: 1 << 20,
        concurrency: 2,
        threshold: 1 << 21,
      },
    );
  });

  it('builds one client from the options and reuses it', async () => {
    const service = new S3ImageService({
      endpoint: 'http://127.0.0.1:7480',
      region: 'eu-west-3',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret-secret' },
    });
    const client = await service.client();
    expect(await service.client()).toBe(client);
    expect(await client.config.region()).toBe('eu-west-3');
    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    const endpoint = await client.config.endpoint?.();
    expect(`${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`).toBe('http://127.0.0.1:7480');
    client.destroy();
  });

  it('reuses a prebuilt client as it is', async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const prebuilt = new S3Client({ region: 'ap-south-1' });
    const service = new S3ImageService({ client: prebuilt, region: 'ignored' });
    expect(await service.client()).toBe(prebuilt);
    prebuilt.destroy();
  });

  it('follows the SDK region chain, and falls back to us-east-1 when it names none', async () => {
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials');
    vi.stubEnv('AWS_REGION', 'sa-east-1');
    const fromEnv = await new S3ImageService({ endpoint: 'http://127.0.0.1:1' }).client();
    expect(await fromEnv.config.region()).toBe('sa-east-1');
    fromEnv.destroy();
    vi.stubEnv('AWS_REGION', '');
    delete process.env.AWS_REGION;
    const fallback = await new S3ImageService({ endpoint: 'http://127.0.0.1:1' }).client();
    expect(await fallback.config.region()).toBe('us-east-1');
    fallback.destroy();
  });
});
