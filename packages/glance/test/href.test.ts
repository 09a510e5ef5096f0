import { ImageRefValidationFailed, isImageServiceError } from '@image-service/core';
import { describe, expect, it } from 'vitest';
import { GlanceImageService, parseGlanceHref } from '../src/index.js';

const ID = '6a3ef1b2-0c4d-4e5f-8a9b-0c1d2e3f4a5b';

describe('parseGlanceHref', () => {
  it.each([
    [ID, ID],
    [ID.toUpperCase(), ID],
    [ID.replace(/-/g, ''), ID],
    [ID.replace(/-/g, '').toUpperCase(), ID],
    [`glance://${ID}`, ID],
    [`GLANCE://${ID.toUpperCase()}`, ID],
    [`glance://${ID.replace(/-/g, '')}`, ID],
    [`glance://${ID}/`, ID],
  ])('%s names image %s with the configured or catalog endpoint', (href, id) => {
    expect(parseGlanceHref(href)).toEqual({ imageId: id });
  });

  it.each([
    [`glance://glance.example.com:9292/${ID}`, 'http://glance.example.com:9292'],
    [`glance://10.0.0.5/${ID.toUpperCase()}`, 'http://10.0.0.5'],
    [`glance://[::1]:9292/${ID}`, 'http://[::1]:9292'],
  ])('%s names the endpoint %s', (href, endpoint) => {
    expect(parseGlanceHref(href)).toEqual({ imageId: ID, endpoint });
  });

  it('reaches glance://<host>/<id> over https when told to', () => {
    expect(parseGlanceHref(`glance://g.example:443/${ID}`, 'https').endpoint).toBe('https://g.example');
  });

  it.each([
    'not-a-uuid',
    `${ID}0`,
    `glance://`,
    `glance://not-a-uuid`,
    `glance://host:9292/not-a-uuid`,
    `glance://host:9292/v2/images/${ID}`,
    `glance://host:99999/${ID}`,
    `glance://user:pw@host/${ID}`,
    `glance://host/${ID}?x=1`,
    `glance:///${ID}`,
    `http://host/${ID}`,
    `{${ID}}x`,
  ])('refuses %s with "Invalid image href <href>."', (href) => {
    let caught: unknown;
    try {
      parseGlanceHref(href);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ImageRefValidationFailed);
    expect(isImageServiceError(caught, 'IMAGE_REF_VALIDATION_FAILED')).toBe(true);
    expect((caught as Error).message).toMatch(/^Invalid image href .*\.$/);
  });

  it('shows a malformed href redacted, and not at all when secret', async () => {
    const service = new GlanceImageService({ endpoint: 'http://127.0.0.1:1' });
    const href = `glance://admin:s3cr3t-pw@host/${ID}`;
    await expect(service.show(href)).rejects.toThrow('Invalid image href glance://admin:***@host/');
    const error = await service.validateHref(href, { secret: true }).catch((e: Error) => e);
    expect((error as Error).message).toBe('Invalid image href ***.');
    expect(JSON.stringify(error)).not.toContain('s3cr3t');
    await service.close();
  });
});
