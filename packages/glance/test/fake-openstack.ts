import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An image the fake Glance serves. */
export interface FakeImage {
  id: string;
  status: string;
  visibility: string;
  owner: string | null;
  data: Buffer;
  /** Published digest override (to fake a wrong digest). */
  sha512?: string;
  members?: Record<string, string>;
  extra?: Record<string, unknown>;
}

/** What the fake saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** A fault hook: return true when it answered the request itself. */
export type FileHook = (
  req: IncomingMessage,
  res: ServerResponse,
  image: FakeImage,
  attempt: number,
) => boolean;

/**
 * An in-process Keystone v3 + Glance v2 on 127.0.0.1 (port 0) for faults the real servers will not produce. Keystone
 * lives under /v3, Glance under /glance (public, RegionOne) and /glance-internal (internal, RegionTwo).
 */
export class FakeOpenStack {
  readonly server: Server;
  url = '';
  readonly images = new Map<string, FakeImage>();
  readonly seen: SeenRequest[] = [];
  readonly tokens = new Set<string>();
  password = 'fake-pa55word-XYZ';
  projectId = 'project-demo';
  roles = ['member'];
  authRequests = 0;
  /** When true, Glance requires a valid Keystone token. */
  keystone = true;
  /** When true, Glance answers 401 to every token. */
  refuseAllTokens = false;
  /** Responses to give to GET /v2/images/{id} before the real one (status codes), consumed in order. */
  metadataFaults: number[] = [];
  fileHook: FileHook | undefined;
  /** Whether Glance honours Range requests. */
  ranges = true;
  fileAttempts = 0;

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addImage(partial: Partial<FakeImage> & { size?: number } = {}): FakeImage {
    const data = partial.data ?? randomBytes(partial.size ?? 300_000);
    const image: FakeImage = {
      id: partial.id ?? randomUUID(),
      status: partial.status ?? 'active',
      visibility: partial.visibility ?? 'public',
      owner: partial.owner === undefined ? 'project-other' : partial.owner,
      data,
      ...(partial.sha512 ? { sha512: partial.sha512 } : {}),
      members: partial.members ?? {},
      extra: partial.extra ?? {},
    };
    this.images.set(image.id, image);
    return image;
  }

  glanceRequests(): SeenRequest[] {
    return this.seen.filter((r) => !r.url.startsWith('/v3/'));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url.startsWith('/v3/auth/tokens'))
        return this.#keystoneTokens(req, res, Buffer.concat(chunks).toString());
      const match = /^(?:\/glance(?:-internal)?)?\/v2\/images\/([^/]+)(\/file|\/members\/([^/]+))?$/.exec(
        url,
      );
      if (!match) return send(res, 404, 'no route');
      if (this.keystone) {
        const token = req.headers['x-auth-token'];
        if (this.refuseAllTokens || typeof token !== 'string' || !this.tokens.has(token)) {
          return send(res, 401, 'The request you have made requires authentication.');
        }
      }
      const image = this.images.get(match[1] ?? '');
      if (!image) return send(res, 404, `No image found with ID ${match[1]}`);
      if (match[2] === '/file') return this.#file(req, res, image);
      if (match[3] !== undefined) {
        const status = image.members?.[decodeURIComponent(match[3])];
        return status
          ? json(res, 200, { member_id: match[3], image_id: image.id, status })
          : send(res, 404, 'no member');
      }
      const fault = this.metadataFaults.shift();
      if (fault !== undefined) {
        res.setHeader('retry-after', '0');
        return send(res, fault, `fault ${fault}`);
      }
      return json(res, 200, this.#record(image));
    });
  }

  #record(image: FakeImage): Record<string, unknown> {
    const empty = image.status === 'queued';
    return {
      id: image.id,
      name: `image-${image.id.slice(0, 8)}`,
      status: image.status,
      visibility: image.visibility,
      owner: image.owner,
      size: empty ? null : image.data.length,
      checksum: empty ? null : createHash('md5').update(image.data).digest('hex'),
      os_hash_algo: empty ? null : 'sha512',
      os_hash_value: empty ? null : (image.sha512 ?? createHash('sha512').update(image.data).digest('hex')),
      disk_format: 'raw',
      container_format: 'bare',
      min_disk: 0,
      min_ram: 0,
      protected: false,
      tags: [],
      created_at: '2026-11-26T22:59:19Z',
      updated_at: '2026-11-26T23:00:00Z',
      file: `/v2/images/${image.id}/file`,
      schema: '/v2/schemas/image',
      ...image.extra,
    };
  }

  #file(req: IncomingMessage, res: ServerResponse, image: FakeImage): void {
    this.fileAttempts += 1;
    if (this.fileHook?.(req, res, image, this.fileAttempts)) return;
    if (image.status === 'queued') {
      res.writeHead(204);
      res.end();
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && this.ranges) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : image.data.length - 1;
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start + 1),
        'content-range': `bytes ${start}-${end}/${image.data.length}`,
      });
      res.end(image.data.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(image.data.length),
    });
    res.end(image.data);
  }

  #keystoneTokens(req: IncomingMessage, res: ServerResponse, body: string) {
    if (req.method === 'GET') {
      const subject = req.headers['x-subject-token'];
      if (typeof subject !== 'string' || !this.tokens.has(subject))
        return send(res, 404, 'Could not find token');
      return json(res, 200, this.#tokenBody());
    }
    this.authRequests += 1;
    let parsed: { auth?: { identity?: { password?: { user?: { password?: string } } } } };
    try {
      parsed = JSON.parse(body);
    } catch {
      return send(res, 400, 'bad json');
    }
    if (parsed.auth?.identity?.password?.user?.password !== this.password) {
      return json(res, 401, {
        error: { code: 401, message: 'The request you have made requires authentication.' },
      });
    }
    const token = `tok-${randomUUID()}`;
    this.tokens.add(token);
    res.setHeader('x-subject-token', token);
    json(res, 201, this.#tokenBody());
  }

  #tokenBody(): Record<string, unknown> {
    return {
      token: {
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        project: { id: this.projectId, name: 'demo' },
        user: { id: 'user-demo' },
        roles: this.roles.map((name) => ({ name })),
        catalog: [
          {
            type: 'image',
            endpoints: [
              { interface: 'public', region_id: 'RegionOne', url: `${this.url}/glance` },
              { interface: 'internal', region_id: 'RegionTwo', url: `${this.url}/glance-internal/v2/` },
            ],
          },
        ],
      },
    };
  }
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}
