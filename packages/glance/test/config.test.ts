import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloudConfigCandidates, glanceOptionsFromEnv, imageEndpointOf, keystoneV3Url } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'glance-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('glanceOptionsFromEnv', () => {
  it('reads the OS_* variables of an openrc file', () => {
    const options = glanceOptionsFromEnv(
      {
        OS_AUTH_URL: 'http://keystone:5000/v3',
        OS_USERNAME: 'demo',
        OS_PASSWORD: 'pw',
        OS_PROJECT_NAME: 'demo',
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_DOMAIN_ID: 'default',
        OS_REGION_NAME: 'RegionOne',
        OS_INTERFACE: 'internalURL',
        OS_CACERT: '/etc/ssl/ca.pem',
        OS_INSECURE: 'false',
        OS_IMAGE_URL: 'http://glance:9292',
        IMAGE_SERVICE_GLANCE_NUM_RETRIES: '5',
        IMAGE_SERVICE_GLANCE_ENDPOINT_SCHEME: 'HTTPS',
        HOME: dir,
      },
      { cwd: dir },
    );
    expect(options).toEqual({
      endpoint: 'http://glance:9292',
      auth: {
        authUrl: 'http://keystone:5000/v3',
        username: 'demo',
        password: 'pw',
        projectName: 'demo',
        userDomainName: 'Default',
        projectDomainId: 'default',
      },
      regionName: 'RegionOne',
      interface: 'internal',
      caCert: '/etc/ssl/ca.pem',
      insecure: false,
      numRetries: 5,
      endpointScheme: 'https',
    });
  });

  it('reads the token and application credential variables', () => {
    expect(
      glanceOptionsFromEnv({ OS_AUTH_TYPE: 'v3token', OS_TOKEN: 't', OS_PROJECT_ID: 'p' }, { cwd: dir }),
    ).toEqual({
      auth: { authType: 'v3token', token: 't', projectId: 'p' },
    });
    expect(
      glanceOptionsFromEnv(
        {
          OS_APPLICATION_CREDENTIAL_ID: 'id',
          OS_APPLICATION_CREDENTIAL_SECRET: 's',
          OS_AUTH_URL: 'http://k',
        },
        { cwd: dir },
      ),
    ).toEqual({
      auth: { authUrl: 'http://k', applicationCredentialId: 'id', applicationCredentialSecret: 's' },
    });
  });

  it('is empty without variables, and refuses bad values', () => {
    expect(glanceOptionsFromEnv({ OS_PASSWORD: '' }, { cwd: dir })).toEqual({});
    expect(() => glanceOptionsFromEnv({ IMAGE_SERVICE_GLANCE_NUM_RETRIES: '-1' })).toThrow(TypeError);
    expect(() => glanceOptionsFromEnv({ OS_INTERFACE: 'sideways' })).toThrow(/not an endpoint interface/);
  });

  it('reads OS_CLOUD from clouds.yaml with secure.yaml merged, and lets OS_* variables override it', () => {
    const clouds = join(dir, 'my-clouds.yaml');
    writeFileSync(
      clouds,
      [
        'clouds:',
        '  mycloud:',
        '    auth:',
        '      auth_url: http://keystone:5000',
        '      username: demo',
        '      project_name: demo',
        '      domain_name: Corp',
        '    region_name: RegionTwo',
        '    interface: internal',
        '    verify: false',
        '    api_timeout: 30',
        '    image_endpoint_override: http://glance:9292/v2',
        '  other:',
        '    auth_type: v3applicationcredential',
        '    auth: {auth_url: http://k, application_credential_id: ac}',
        '    regions: [{name: R3}, R4]',
      ].join('\n'),
    );
    const secure = join(dir, 'my-secure.yaml');
    writeFileSync(
      secure,
      'clouds:\n  mycloud:\n    auth:\n      password: from-secure\n  other:\n    auth:\n      application_credential_secret: acs\n',
    );
    const env = { OS_CLIENT_CONFIG_FILE: clouds, OS_CLIENT_SECURE_FILE: secure, HOME: dir };
    expect(glanceOptionsFromEnv({ ...env, OS_CLOUD: 'mycloud' }, { cwd: dir })).toEqual({
      endpoint: 'http://glance:9292/v2',
      auth: {
        authUrl: 'http://keystone:5000',
        username: 'demo',
        password: 'from-secure',
        projectName: 'demo',
        domainName: 'Corp',
      },
      regionName: 'RegionTwo',
      interface: 'internal',
      insecure: true,
      timeoutMs: 30_000,
    });
    expect(
      glanceOptionsFromEnv(
        { ...env, OS_CLOUD: 'mycloud', OS_PASSWORD: 'from-env', OS_REGION_NAME: 'R9' },
        { cwd: dir },
      ),
    ).toMatchObject({ auth: { password: 'from-env', username: 'demo' }, regionName: 'R9' });
    expect(glanceOptionsFromEnv({ ...env, OS_CLOUD: 'other' }, { cwd: dir })).toEqual({
      auth: {
        authUrl: 'http://k',
        authType: 'v3applicationcredential',
        applicationCredentialId: 'ac',
        applicationCredentialSecret: 'acs',
      },
      regionName: 'R3',
    });
    expect(() => glanceOptionsFromEnv({ ...env, OS_CLOUD: 'nope' }, { cwd: dir })).toThrow(
      /The cloud "nope" is not in .*my-clouds.yaml \(clouds there: mycloud, other\)/,
    );
  });

  it('finds clouds.yaml in the working directory before ~/.config/openstack and /etc/openstack', () => {
    const home = join(dir, 'home');
    expect(cloudConfigCandidates('clouds', { HOME: home }, { cwd: dir }).slice(0, 4)).toEqual([
      join(dir, 'clouds.yaml'),
      join(dir, 'clouds.yml'),
      join(dir, 'clouds.json'),
      join(home, '.config/openstack/clouds.yaml'),
    ]);
    expect(cloudConfigCandidates('clouds', { HOME: home })).toContain('/etc/openstack/clouds.yaml');
    expect(
      cloudConfigCandidates('secure', { XDG_CONFIG_HOME: '/x', OS_CLIENT_SECURE_FILE: '/s.yaml' })[0],
    ).toBe('/s.yaml');
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'clouds.yml'), 'clouds:\n  here: {auth: {auth_url: http://here}}\n');
    expect(glanceOptionsFromEnv({ OS_CLOUD: 'here', HOME: home }, { cwd })).toEqual({
      auth: { authUrl: 'http://here' },
    });
    expect(() => glanceOptionsFromEnv({ OS_CLOUD: 'here', HOME: home }, { cwd: home })).toThrow(
      /no clouds.yaml exists/,
    );
  });
});

describe('catalog and URLs', () => {
  const catalog = [
    { type: 'identity', endpoints: [{ interface: 'public', url: 'http://k' }] },
    {
      type: 'image',
      endpoints: [
        { interface: 'admin', region_id: 'R1', url: 'http://admin-r1' },
        { interface: 'public', region_id: 'R1', url: 'http://public-r1' },
        { interface: 'public', region_id: 'R2', url: 'http://public-r2' },
        { interface: 'internal', region: 'R2', url: 'http://internal-r2' },
      ],
    },
  ];
  it('picks the image endpoint by interface and region', () => {
    expect(imageEndpointOf(catalog)).toBe('http://public-r1');
    expect(imageEndpointOf(catalog, 'public', 'R2')).toBe('http://public-r2');
    expect(imageEndpointOf(catalog, 'internal', 'R2')).toBe('http://internal-r2');
    expect(imageEndpointOf(catalog, 'admin')).toBe('http://admin-r1');
    expect(imageEndpointOf(catalog, 'internal', 'R1')).toBeUndefined();
  });
  it('appends /v3 to an auth URL that lacks it', () => {
    expect(keystoneV3Url('http://k:5000')).toBe('http://k:5000/v3');
    expect(keystoneV3Url('http://k:5000/v3/')).toBe('http://k:5000/v3');
    expect(keystoneV3Url('https://cloud/identity')).toBe('https://cloud/identity/v3');
  });
});
