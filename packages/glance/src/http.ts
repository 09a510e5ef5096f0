import type { IncomingHttpHeaders } from 'node:http';
import { parseRetryAfter, scrubText } from '@image-service/core';
import type { Dispatcher } from 'undici';

/** A response body as undici hands it out. */
export type Body = Dispatcher.ResponseData['body'];

/** Reads at most `limit` bytes of a body as text and discards the rest. */
export async function readText(body: Body, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= limit) break;
    }
  } finally {
    destroyQuietly(body);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** Destroys a body without an unhandled error event. */
export function destroyQuietly(body: Body): void {
  body.on('error', () => {});
  if (!body.destroyed) body.destroy();
}

/** Discards a body: a short one is read (so the connection can be reused), a long one is cut off. */
export function discard(body: Body): void {
  body.on('error', () => {});
  body.dump({ limit: 64 * 1024 }).catch(() => {});
}

/** One header's value (the first, when repeated). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A Retry-After header (seconds or an HTTP date) in ms. */
export function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  return parseRetryAfter(header(headers, 'retry-after'));
}

/**
 * A server's error body as one short line: the `message` of an OpenStack JSON error, or the text without HTML tags;
 * any of `secrets` masked.
 */
export function errorText(text: string, secrets: readonly string[] = []): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const inner = Object.values(parsed).find((value) => typeof value === 'object' && value !== null) as
      | Record<string, unknown>
      | undefined;
    const candidate = parsed.message ?? inner?.message ?? parsed.title ?? inner?.title;
    if (typeof candidate === 'string') message = candidate;
  } catch {
    message = text.replace(/<[^>]*>/g, ' ');
  }
  message = message.replace(/\s+/g, ' ').trim();
  if (message.length > 300) message = `${message.slice(0, 300)}...`;
  return scrubText(message, secrets);
}

/** What a failed network call says, without anything a library may have quoted from the request. */
export function networkReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    const text = current.message || current.name;
    parts.push(typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text);
    current = current.cause;
  }
  return parts.length > 0 ? [...new Set(parts)].join(': ') : String(error);
}
