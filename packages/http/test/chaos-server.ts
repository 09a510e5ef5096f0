import { createServer, type Socket } from 'node:net';
import { listenOnLoopback, parseRequestHead } from './helpers.js';

/** A request as the chaos server read it. */
export interface ChaosRequest {
  method: string;
  url: string;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** Which TCP connection (0 for the first) carried it. */
  connection: number;
}

/**
 * What to answer one request with, byte by byte: anything a real server (or the network between) can do wrong.
 * Defaults give a well-formed, complete, keep-alive response.
 */
export interface ChaosResponse {
  /** Wait this long before the status line; `never` keeps the connection open and silent. */
  stallBeforeHeaders?: number | 'never';
  /** Default 200. */
  status?: number;
  /** Sent as given, in order: a name may repeat and a value may be garbage. */
  headers?: Array<[string, string]>;
  /** The body bytes (omitted for HEAD by {@link imageAnswer}). */
  body?: Uint8Array;
  /** Send the body with chunked transfer coding (a truncated body then lacks its last chunk). */
  chunked?: boolean;
  /** Send only this many bytes of the body, then end as `ending` says. */
  truncateAt?: number;
  /** Send the body in pieces of `bytes`, one every `everyMs`. */
  drip?: { bytes: number; everyMs: number };
  /**
   * How the exchange ends once the bytes are out: `keep-alive` (the default; the connection waits for the next request),
   * `close` (FIN), `reset` (RST) or `hang` (the connection stays open and silent: a server that never closes).
   */
  ending?: 'keep-alive' | 'close' | 'reset' | 'hang';
}

/** Decides the answer to each request; `index` counts requests from 0. */
export type ChaosScript = (request: ChaosRequest, index: number) => ChaosResponse;

/** A running chaos server on 127.0.0.1, port 0. */
export interface ChaosServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Every request read so far. */
  requests: ChaosRequest[];
  /** TCP connections accepted so far. */
  connections: () => number;
  /** TCP connections open now. */
  openConnections: () => number;
  /** Whether the connection numbered `connection` (see {@link ChaosRequest.connection}) is still open. */
  isOpen: (connection: number) => boolean;
  /** Closes every connection and the listener. */
  close: () => Promise<void>;
}

/**
 * Starts a raw TCP server that reads HTTP/1.1 requests and answers each as `script` says, with the faults node:http will
 * not produce: resets at any byte, bodies shorter or longer than announced, duplicated or garbage headers, stalls
 * before the headers or mid-body, slow drips, and connections that never close.
 */
export async function startChaosServer(script: ChaosScript): Promise<ChaosServer> {
  const requests: ChaosRequest[] = [];
  const sockets = new Set<Socket>();
  const open = new Set<number>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const server = createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    open.add(connection);
    socket.on('close', () => {
      sockets.delete(socket);
      open.delete(connection);
    });
    socket.on('error', () => {});
    let buffered = '';
    let busy = false;
    const queue: ChaosRequest[] = [];

    const next = () => {
      if (busy || socket.destroyed) return;
      const request = queue.shift();
      if (!request) return;
      busy = true;
      const index = requests.length;
      requests.push(request);
      answer(socket, script(request, index), () => {
        busy = false;
        next();
      });
    };

    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        queue.push({ ...parseRequestHead(head), connection });
      }
      next();
    });
  });

  /** Writes one response; `done` runs when the connection is ready for the next request. */
  function answer(socket: Socket, response: ChaosResponse, done: () => void): void {
    const stall = response.stallBeforeHeaders;
    if (stall === 'never') return;
    if (stall !== undefined && stall > 0) {
      later(stall, () => answer(socket, { ...response, stallBeforeHeaders: 0 }, done));
      return;
    }
    const status = response.status ?? 200;
    const headers = response.headers ?? [];
    const body = Buffer.from(response.body ?? new Uint8Array(0));
    const sent = response.truncateAt === undefined ? body : body.subarray(0, response.truncateAt);
    const complete = sent.length === body.length;
    const ending = response.ending ?? 'keep-alive';
    let head = `HTTP/1.1 ${status} Chaos\r\n`;
    for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
    if (response.chunked) head += 'Transfer-Encoding: chunked\r\n';
    if (ending !== 'keep-alive') head += 'Connection: close\r\n';
    socket.write(`${head}\r\n`, 'latin1');

    const pieces: Buffer[] = [];
    const size = response.drip?.bytes ?? (sent.length || 1);
    for (let at = 0; at < sent.length; at += size) pieces.push(sent.subarray(at, at + size));
    const frame = (piece: Buffer) =>
      response.chunked
        ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
        : piece;

    const finish = () => {
      if (socket.destroyed) return;
      if (response.chunked && complete) socket.write('0\r\n\r\n');
      switch (ending) {
        case 'keep-alive':
          done();
          break;
        case 'close':
          socket.end();
          break;
        case 'reset':
          // Let the bytes leave before the RST, so that the client receives them.
          socket.write('', () => later(20, () => socket.resetAndDestroy()));
          break;
        case 'hang':
          break;
      }
    };
    const send = (index: number) => {
      if (socket.destroyed) return;
      const piece = pieces[index];
      if (piece === undefined) return finish();
      socket.write(frame(piece));
      if (response.drip) later(response.drip.everyMs, () => send(index + 1));
      else send(index + 1);
    };
    send(0);
  }

  const listening = await listenOnLoopback(server, sockets);
  return {
    url: listening.url,
    port: listening.port,
    requests,
    connections: () => connections,
    openConnections: () => sockets.size,
    isOpen: (connection) => open.has(connection),
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await listening.close();
    },
  };
}

/** A version of an image a chaos server serves. */
export interface ImageVersion {
  bytes: Uint8Array;
  /** Sent as ETag. */
  etag?: string;
  /** Sent as Last-Modified. */
  lastModified?: string;
}

/**
 * The answer a correct server gives: 206 for `Range: bytes=a-` or `bytes=a-b` unless If-Range names another version
 * (then 200 with the whole image), Content-Length always, no body for HEAD. Tests then break it as they need.
 */
export function imageAnswer(request: ChaosRequest, version: ImageVersion): ChaosResponse {
  const total = version.bytes.length;
  const headers: Array<[string, string]> = [
    ['Content-Type', 'application/octet-stream'],
    ['Accept-Ranges', 'bytes'],
  ];
  if (version.etag) headers.push(['ETag', version.etag]);
  if (version.lastModified) headers.push(['Last-Modified', version.lastModified]);
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
  const ifRange = request.headers['if-range'];
  const honoured =
    range !== null && (ifRange === undefined || ifRange === version.etag || ifRange === version.lastModified);
  let status = 200;
  let body = Buffer.from(version.bytes);
  if (honoured) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
    if (start >= total) {
      return {
        status: 416,
        headers: [
          ['Content-Range', `bytes */${total}`],
          ['Content-Length', '0'],
        ],
      };
    }
    status = 206;
    body = body.subarray(start, end + 1);
    headers.push(['Content-Range', `bytes ${start}-${end}/${total}`]);
  }
  headers.push(['Content-Length', String(body.length)]);
  return { status, headers, body: request.method === 'HEAD' ? undefined : body };
}

/** Where a request asks the body to start: the `a` of `Range: bytes=a-`, or 0. */
export function rangeStart(request: ChaosRequest): number {
  return Number(/^bytes=(\d+)-/.exec(request.headers.range ?? '')?.[1] ?? 0);
}
