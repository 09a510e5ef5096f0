import { describe, expect, it } from 'vitest';
import {
  canonicalUuid,
  defaultRegistry,
  ErrorCode,
  ImageServiceRegistry,
  isImageServiceError,
  isUuidLike,
} from '../src/index.js';
import { NamedService, rejectionOf } from './memory-service.js';

describe('ImageServiceRegistry', () => {
  it('resolves schemes case-insensitively and hands client and context to the factory', async () => {
    const registry = new ImageServiceRegistry();
    const seen: unknown[] = [];
    registry.register(['HTTP', 'https'], (ctx) => {
      seen.push(ctx);
      return new NamedService('http');
    });
    expect(registry.schemes()).toEqual(['http', 'https']);
    const service = await registry.resolve('HtTpS://h/i', { client: 'c', context: { token: 't' } });
    expect(service.name).toBe('http');
    expect(seen[0]).toEqual({
      imageHref: 'HtTpS://h/i',
      scheme: 'https',
      client: 'c',
      context: { token: 't' },
    });
  });

  it('refuses a taken scheme unless told to override', async () => {
    const registry = new ImageServiceRegistry();
    registry.register('file', () => new NamedService('a'));
    expect(() => registry.register('FILE', () => new NamedService('b'))).toThrow(/already registered/);
    registry.register('file', () => new NamedService('b'), { override: true });
    expect((await registry.resolve('file:///x')).name).toBe('b');
    expect(registry.unregister('file')).toBe(true);
    expect(registry.has('file')).toBe(false);
  });

  it('rejects invalid scheme names', () => {
    expect(() => new ImageServiceRegistry().register('1abc', () => new NamedService('x'))).toThrow(TypeError);
  });

  it('sends UUID-like scheme-less hrefs to glance, with or without dashes, in any case', async () => {
    const registry = new ImageServiceRegistry();
    registry.register('glance', () => new NamedService('glance'));
    for (const href of [
      '0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb',
      '0FDC6A445BD54B2AA1B07E64CE6AD1BB',
      '{0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb}',
    ]) {
      expect((await registry.resolve(href)).name).toBe('glance');
    }
  });

  it('explains a scheme-less href that is not a UUID', async () => {
    const error = await rejectionOf(new ImageServiceRegistry().resolve('not-a-uuid'));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect((error as Error).message).toBe(
      'Validation of image href not-a-uuid failed, reason: Scheme-less image href is not a UUID.',
    );
  });

  it('names the registered schemes and the package to install for an unknown scheme', async () => {
    const registry = new ImageServiceRegistry();
    registry.register('file', () => new NamedService('file'));
    const unknown = (await rejectionOf(registry.resolve('gopher://x/y'))) as Error;
    expect(unknown.message).toContain('Image download protocol gopher is not supported.');
    expect(unknown.message).toContain('Registered schemes: file.');
    const s3 = (await rejectionOf(registry.resolve('s3://bucket/key'))) as Error;
    expect(s3.message).toContain('@image-service/s3');
    const glance = (await rejectionOf(registry.resolve('0fdc6a445bd54b2aa1b07e64ce6ad1bb'))) as Error;
    expect(glance.message).toContain('protocol glance is not supported');
    expect(glance.message).toContain('@image-service/glance');
  });

  it('has one shared default registry', () => {
    expect(defaultRegistry).toBeInstanceOf(ImageServiceRegistry);
  });
});

describe('isUuidLike', () => {
  it.each([
    ['0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb', true],
    ['0FDC6A445BD54B2AA1B07E64CE6AD1BB', true],
    ['urn:uuid:0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb', true],
    ['0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1b', false],
    ['0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bz', false],
    ['', false],
  ])('%s -> %s', (text, like) => {
    expect(isUuidLike(text)).toBe(like);
  });

  it('canonicalizes', () => {
    expect(canonicalUuid('0FDC6A445BD54B2AA1B07E64CE6AD1BB')).toBe('0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb');
  });
});
