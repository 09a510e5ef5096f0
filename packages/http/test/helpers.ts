import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { Writable } from 'node:stream';
import type { ImageStream, ReadRequest } from '@image-service/core';
import { HttpImageService } from '../src/index.js';

/** What a test server saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** An in-process server on 127.0.0.1 and port 0. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: SeenRequest[];
  /** TCP connections accepted so far. */
  connections: () => number;
  close: () => Promise<void>;
}

/** The request line and headers of a raw HTTP/1.1 request head (names in lower case; a repeated header keeps its last value). */
export function parseRequestHead(head: string): {
  method: string;
  url: string;
  headers: Record<string, string>;
} {
  const [line = '', ...lines] = head.split('\r\n');
  const [method = '', url = ''] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const header of lines) {
    const colon = header.indexOf(':');
    if (colon > 0) headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  return { method, url, headers };
}

/**
 * Listens on 127.0.0.1 at a free port; `close` first destroys every connection in `sockets` (which the caller keeps), so
 * no test waits on a keep-alive connection.
 */
export async function listenOnLoopback(
  server: NetServer,
  sockets: Set<Socket>,
): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts a node:http server whose handler also gets the request's index (0 for the first). */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, index: number) => void | Promise<void>,
): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((req, res) => {
    const index = requests.length;
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    Promise.resolve(handler(req, res, index)).catch((error) => {
      res.destroy(error);
    });
  });
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return { ...(await listenOnLoopback(server, sockets)), requests, connections: () => connections };
}

/** Starts a raw TCP server that answers each request's bytes with `respond` (for responses node:http will not send). */
export async function serveRaw(
  respond: (socket: Socket, request: string, index: number) => void,
): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createNetServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const end = buffered.indexOf('\r\n\r\n') + 4;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end);
        const index = requests.length;
        requests.push(parseRequestHead(head));
        respond(socket, head, index);
      }
    });
  });
  return { ...(await listenOnLoopback(server, sockets)), requests, connections: () => connections };
}

/** Deterministic pseudo-random bytes. */
export function bytesOf(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < size; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[index] = state & 0xff;
  }
  return out;
}

/** Hex SHA-256. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A writable that keeps everything written (tests use small images). */
export class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    callback();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The rejection of `promise`; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Everything an error shows (message, String(), util.inspect, JSON, every cause): the conformance kit's. */
export { renderError } from '@image-service/testkit';

/** Fast retries for tests. */
export const QUICK_RETRY = { retries: 3, minDelayMs: 1, maxDelayMs: 20 };

/** Exposes `openRead` to check the stream a driver opens. */
export class OpenableHttpImageService extends HttpImageService {
  open(
    imageHref: string,
    request: Partial<ReadRequest> = {},
  ): Promise<ImageStream & { rangesSupported?: boolean }> {
    return this.openRead(imageHref, { offset: 0, signal: new AbortController().signal, ...request });
  }
}

/** Reads an image stream's body to the end. */
export async function drain(stream: ImageStream): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
