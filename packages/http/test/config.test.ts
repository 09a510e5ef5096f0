import { ImageServiceRegistry, isImageServiceError } from '@image-service/core';
import { describe, expect, it } from 'vitest';
import { AddressPolicy, parseAddress } from '../src/addresses.js';
import {
  HTTP_ENV_VARIABLES,
  HttpImageService,
  httpOptionsFromEnv,
  proxyFor,
  proxySettingsFromEnv,
  register,
} from '../src/index.js';
import { bypassesProxy } from '../src/proxy.js';
import { rejection } from './helpers.js';

describe('addresses', () => {
  it('parses IPv4, IPv6, bracketed, zoned and dotted-tail forms', () => {
    expect([...(parseAddress('10.1.2.3')?.bytes ?? [])]).toEqual([10, 1, 2, 3]);
    expect(parseAddress('[::1]')?.bytes.at(15)).toBe(1);
    expect(parseAddress('fe80::1%eth0')?.bytes.at(0)).toBe(0xfe);
    expect([...(parseAddress('::ffff:127.0.0.1')?.bytes.slice(10) ?? [])]).toEqual([
      0xff, 0xff, 127, 0, 0, 1,
    ]);
    expect(parseAddress('example.com')).toBeUndefined();
  });

  it('blocks the non-public ranges when asked, including mapped and NAT64 forms', () => {
    const policy = new AddressPolicy({ blockPrivateAddresses: true });
    for (const address of [
      '127.0.0.1',
      '10.20.30.40',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd00:ec2::254',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::a9fe:a9fe',
    ]) {
      expect(policy.allows(address), address).toBe(false);
    }
    for (const address of [
      '93.184.216.34',
      '172.32.0.1',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ]) {
      expect(policy.allows(address), address).toBe(true);
    }
  });

  it('lets allowed ranges through a denial and denies nothing by default', () => {
    const policy = new AddressPolicy({
      blockPrivateAddresses: true,
      deniedAddresses: ['203.0.113.0/24'],
      allowedAddresses: ['10.1.0.0/16'],
    });
    expect(policy.allows('10.1.2.3')).toBe(true);
    expect(policy.allows('10.2.0.1')).toBe(false);
    expect(policy.allows('203.0.113.9')).toBe(false);
    expect(new AddressPolicy().allows('127.0.0.1')).toBe(true);
    expect(new AddressPolicy().active).toBe(false);
  });

  it('rejects a malformed range at construction', () => {
    expect(() => new AddressPolicy({ deniedAddresses: ['10.0.0.0/33'] })).toThrow(
      /not an IP address or CIDR/,
    );
    expect(() => new HttpImageService({ deniedAddresses: ['nonsense'] })).toThrow(TypeError);
  });
});

describe('proxies (curl semantics)', () => {
  it('reads the variables, lower case first, ALL_PROXY as the fallback', () => {
    expect(
      proxySettingsFromEnv({
        http_proxy: 'http://lower:3128',
        HTTP_PROXY: 'http://upper:3128',
        HTTPS_PROXY: 'http://secure:3128',
        NO_PROXY: 'internal.example',
      }),
    ).toEqual({
      httpProxy: 'http://lower:3128',
      httpsProxy: 'http://secure:3128',
      noProxy: 'internal.example',
    });
    expect(proxySettingsFromEnv({ ALL_PROXY: 'proxy:8080' })).toEqual({
      httpProxy: 'proxy:8080',
      httpsProxy: 'proxy:8080',
      noProxy: undefined,
    });
  });

  it('picks the proxy by scheme and assumes http:// for a bare host', () => {
    const settings = { httpProxy: 'proxy:8080', httpsProxy: 'https://secure-proxy:8443' };
    expect(proxyFor(new URL('http://images.example/a'), settings)).toBe('http://proxy:8080');
    expect(proxyFor(new URL('https://images.example/a'), settings)).toBe('https://secure-proxy:8443');
    expect(proxyFor(new URL('https://images.example/a'), { httpProxy: 'proxy:8080' })).toBeUndefined();
  });

  it('bypasses for NO_PROXY names, subdomains, addresses, CIDR ranges and *', () => {
    const noProxy = ' .internal.example, localhost ,10.0.0.0/8, [::1], 192.168.1.5';
    expect(bypassesProxy('internal.example', noProxy)).toBe(true);
    expect(bypassesProxy('img.internal.example', noProxy)).toBe(true);
    expect(bypassesProxy('notinternal.example', noProxy)).toBe(false);
    expect(bypassesProxy('localhost', noProxy)).toBe(true);
    expect(bypassesProxy('10.9.8.7', noProxy)).toBe(true);
    expect(bypassesProxy('11.0.0.1', noProxy)).toBe(false);
    expect(bypassesProxy('[::1]', noProxy)).toBe(true);
    expect(bypassesProxy('192.168.1.5', noProxy)).toBe(true);
    expect(bypassesProxy('anything.example', '*')).toBe(true);
    expect(bypassesProxy('anything.example', undefined)).toBe(false);
  });
});

describe('httpOptionsFromEnv', () => {
  it('reads every documented variable', () => {
    const options = httpOptionsFromEnv({
      IMAGE_SERVICE_HTTP_CA: '/etc/ssl/private-ca.pem',
      IMAGE_SERVICE_HTTP_INSECURE: 'yes',
      IMAGE_SERVICE_HTTP_USER: 'alice',
      IMAGE_SERVICE_HTTP_PASSWORD: 'pw',
      IMAGE_SERVICE_HTTP_BEARER_TOKEN: 'tok',
      IMAGE_SERVICE_HTTP_HEADERS: 'X-Tenant: blue\nX-Trace: 1',
      IMAGE_SERVICE_HTTP_CONNECT_TIMEOUT_MS: '5000',
      IMAGE_SERVICE_HTTP_HEADERS_TIMEOUT_MS: '7000',
      IMAGE_SERVICE_HTTP_RETRIES: '2',
      IMAGE_SERVICE_HTTP_RETRY_MAX_DELAY_MS: '1000',
      IMAGE_SERVICE_HTTP_MAX_REDIRECTS: '3',
      IMAGE_SERVICE_HTTP_TLS_MIN_VERSION: '1.3',
      IMAGE_SERVICE_HTTP_CIPHERS: 'ECDHE-RSA-AES128-GCM-SHA256',
      IMAGE_SERVICE_HTTP_PROXY: 'off',
      IMAGE_SERVICE_HTTP_BLOCK_PRIVATE_ADDRESSES: 'true',
      IMAGE_SERVICE_HTTP_DENIED_ADDRESSES: '203.0.113.0/24, 198.51.100.7',
      IMAGE_SERVICE_HTTP_ALLOWED_ADDRESSES: '10.1.0.0/16',
    });
    expect(options).toEqual({
      ca: '/etc/ssl/private-ca.pem',
      insecure: true,
      user: 'alice',
      password: 'pw',
      headers: { 'X-Tenant': 'blue', 'X-Trace': '1', Authorization: 'Bearer tok' },
      connectTimeoutMs: 5000,
      headersTimeoutMs: 7000,
      retry: { retries: 2, maxDelayMs: 1000 },
      maxRedirects: 3,
      tlsMinVersion: 'TLSv1.3',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
      proxy: false,
      blockPrivateAddresses: true,
      deniedAddresses: ['203.0.113.0/24', '198.51.100.7'],
      allowedAddresses: ['10.1.0.0/16'],
    });
    for (const name of Object.keys(HTTP_ENV_VARIABLES)) expect(name).toMatch(/^IMAGE_SERVICE_HTTP_/);
    expect(Object.keys(HTTP_ENV_VARIABLES)).toHaveLength(17);
  });

  it('leaves everything unset for an empty environment', () => {
    expect(httpOptionsFromEnv({})).toEqual({});
  });

  it('takes a proxy URL for both schemes, keeping NO_PROXY', () => {
    expect(
      httpOptionsFromEnv({ IMAGE_SERVICE_HTTP_PROXY: 'http://proxy:3128', NO_PROXY: 'internal' }).proxy,
    ).toEqual({
      httpProxy: 'http://proxy:3128',
      httpsProxy: 'http://proxy:3128',
      noProxy: 'internal',
    });
  });

  it('names the variable of a malformed value, never quoting a secret', () => {
    expect(() => httpOptionsFromEnv({ IMAGE_SERVICE_HTTP_RETRIES: 'many' })).toThrow(
      /IMAGE_SERVICE_HTTP_RETRIES/,
    );
    expect(() => httpOptionsFromEnv({ IMAGE_SERVICE_HTTP_INSECURE: 'maybe' })).toThrow(
      /IMAGE_SERVICE_HTTP_INSECURE/,
    );
    expect(() => httpOptionsFromEnv({ IMAGE_SERVICE_HTTP_TLS_MIN_VERSION: '1.1' })).toThrow(
      /TLSv1.2 or TLSv1.3/,
    );
    let message = '';
    try {
      httpOptionsFromEnv({ IMAGE_SERVICE_HTTP_HEADERS: 'Authorization Bearer s3cr3t-value' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/IMAGE_SERVICE_HTTP_HEADERS: line 1/);
    expect(message).not.toContain('s3cr3t-value');
  });
});

describe('construction', () => {
  it('rejects bad options with a TypeError', () => {
    expect(() => new HttpImageService({ connectTimeoutMs: -1 })).toThrow(/connectTimeoutMs/);
    expect(() => new HttpImageService({ maxRedirects: 1.5 })).toThrow(/maxRedirects/);
    expect(() => new HttpImageService({ tlsMinVersion: 'TLSv1.1' as 'TLSv1.2' })).toThrow(/tlsMinVersion/);
    expect(() => new HttpImageService({ ca: '/nonexistent/ca.pem' })).toThrow(/cannot read the CA file/);
    expect(() => new HttpImageService({ headers: { 'Bad Name': 'x' } })).toThrow(/not a header name/);
    expect(() => new HttpImageService({ headers: { 'X-A': 'a\r\nInjected: 1' } })).toThrow(/line break/);
  });

  it('fails every operation with the reference message when half of basic auth is configured', async () => {
    const onlyUser = new HttpImageService({ user: 'alice' });
    const error = await rejection(onlyUser.validateHref('http://127.0.0.1:9/image'));
    expect(isImageServiceError(error, 'IMAGE_REF_VALIDATION_FAILED')).toBe(true);
    expect(error.message).toContain('Missing [password] fields from HTTP(S) basic auth config');
    const onlyPassword = new HttpImageService({ password: 'pw' });
    expect((await rejection(onlyPassword.show('http://127.0.0.1:9/image'))).message).toContain(
      'Missing [user] fields from HTTP(S) basic auth config',
    );
  });

  it('rejects hrefs it does not serve with ImageRefValidationFailed', async () => {
    const service = new HttpImageService();
    for (const [href, reason] of [
      ['http://', 'not a valid URL'],
      ['ftp://example.com/image', 'ftp scheme is not served'],
      ['not a url', 'not a valid URL'],
    ] as const) {
      const error = await rejection(service.show(href));
      expect(isImageServiceError(error, 'IMAGE_REF_VALIDATION_FAILED'), href).toBe(true);
      expect(error.message).toContain(reason);
    }
  });
});

describe('register', () => {
  it('registers one lazily made, reused instance for http and https', async () => {
    const registry = new ImageServiceRegistry();
    register(registry, { retry: false });
    expect(registry.schemes()).toEqual(['http', 'https']);
    const first = await registry.resolve('http://example.com/a.img');
    const second = await registry.resolve('HTTPS://example.com/b.img');
    expect(first).toBeInstanceOf(HttpImageService);
    expect(second).toBe(first);
    expect(() => register(registry)).toThrow(/already registered/);
    register(registry, {}, { override: true });
    expect(await registry.resolve('http://example.com/a.img')).not.toBe(first);
  });
});
