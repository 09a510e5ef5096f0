import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP } from 'node:net';

/** An IP address as bytes (4 for IPv4, 16 for IPv6). */
export interface Address {
  bytes: Uint8Array;
}

/** An address range: a network and its prefix length. */
export interface Range {
  bytes: Uint8Array;
  prefix: number;
}

/**
 * Ranges that are not the public internet: this host, private networks, link-local (cloud metadata services at
 * 169.254.169.254 and fd00:ec2::254), carrier-grade NAT, benchmarking, multicast and reserved.
 */
export const NON_PUBLIC_RANGES: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  '100::/64',
  '2001:db8::/32',
  'fc00::/7',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
];

/**
 * The forms an address is judged by: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address; a NAT64 one
 * (64:ff9b::a.b.c.d) is both itself and the IPv4 address it reaches.
 */
function formsOf(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length !== 16 || !bytes.subarray(4, 10).every((b) => b === 0)) return [bytes];
  const v4 = bytes.slice(12);
  const prefixZero = bytes.subarray(0, 4).every((b) => b === 0);
  if (prefixZero && bytes[10] === 0xff && bytes[11] === 0xff) return [v4];
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b;
  if (nat64 && bytes[10] === 0 && bytes[11] === 0) return [bytes, v4];
  return [bytes];
}

/** An IPv4 or IPv6 address (brackets and a zone id are dropped) as bytes, or undefined when it is not one. */
export function parseAddress(text: string): Address | undefined {
  let host = text.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const zone = host.indexOf('%');
  if (zone >= 0) host = host.slice(0, zone);
  const version = isIP(host);
  if (version === 4) return { bytes: Uint8Array.from(host.split('.').map(Number)) };
  if (version !== 6) return undefined;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    host = `${host.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = host.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words =
    rest === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  if (words.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  words.forEach((word, index) => {
    bytes[index * 2] = word >> 8;
    bytes[index * 2 + 1] = word & 0xff;
  });
  return { bytes };
}

/** A range from `a.b.c.d/n`, `x::y/n` or a single address; throws a TypeError naming the bad entry. */
export function parseRange(text: string): Range {
  const [address = '', prefixText] = text.trim().split('/') as [string, string | undefined];
  const parsed = parseAddress(address);
  const bits = parsed ? parsed.bytes.length * 8 : 0;
  const prefix =
    prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!parsed || !(prefix >= 0 && prefix <= bits)) {
    throw new TypeError(`"${text}" is not an IP address or CIDR range (such as 10.0.0.0/8 or fc00::/7)`);
  }
  return { bytes: parsed.bytes, prefix };
}

/** Whether the address `bytes` lies in `range`. */
export function inRange(bytes: Uint8Array, range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let index = 0; bits > 0; index++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((range.bytes[index] ?? 0) & mask)) return false;
  }
  return true;
}

/** Which addresses hrefs and redirect targets may connect to. */
export interface AddressPolicyOptions {
  /** Refuse the non-public ranges ({@link NON_PUBLIC_RANGES}). */
  blockPrivateAddresses?: boolean;
  /** Refuse these ranges (CIDR or single addresses). */
  deniedAddresses?: readonly string[];
  /** Allow these ranges even when a denial above covers them. */
  allowedAddresses?: readonly string[];
}

/**
 * Decides whether an address may be connected to: denied when a denied range covers it and no allowed range does.
 * An IPv4-mapped or NAT64 IPv6 address is judged by the IPv4 address it stands for as well.
 */
export class AddressPolicy {
  readonly #denied: Range[];
  readonly #allowed: Range[];

  constructor(options: AddressPolicyOptions = {}) {
    this.#denied = [
      ...(options.blockPrivateAddresses ? NON_PUBLIC_RANGES : []),
      ...(options.deniedAddresses ?? []),
    ].map(parseRange);
    this.#allowed = (options.allowedAddresses ?? []).map(parseRange);
  }

  /** Whether the policy can deny anything at all. */
  get active(): boolean {
    return this.#denied.length > 0;
  }

  /** Whether `address` (an IP address in text form) may be connected to; anything that is not an address is denied. */
  allows(address: string): boolean {
    if (!this.active) return true;
    const parsed = parseAddress(address);
    if (!parsed) return false;
    return formsOf(parsed.bytes).every(
      (bytes) =>
        this.#allowed.some((range) => inRange(bytes, range)) ||
        !this.#denied.some((range) => inRange(bytes, range)),
    );
  }
}

/** The `code` of the error a denied address fails with. */
export const ADDRESS_DENIED = 'ERR_IMAGE_SERVICE_ADDRESS_DENIED';

/** The error for a connection the address policy refuses. */
export function addressDeniedError(addresses: readonly string[]): Error {
  const list = addresses.join(', ');
  return Object.assign(
    new Error(`the address policy denies ${addresses.length > 1 ? 'every address' : 'the address'} ${list}`),
    {
      code: ADDRESS_DENIED,
    },
  );
}

/** A `dns.lookup`-compatible resolver. */
export type LookupFunction = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** Callback of a `lookup` as `net.connect` calls it: one address, or all of them with `all: true`. */
type ConnectLookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `net.connect` that resolves with `resolve` and drops the addresses the policy denies, failing with
 * {@link ADDRESS_DENIED} when none is left: the check happens on the very addresses the socket connects to.
 */
export function guardedLookup(
  policy: AddressPolicy,
  resolve: LookupFunction = dnsLookup as unknown as LookupFunction,
): (
  hostname: string,
  options: { all?: boolean; family?: number; hints?: number },
  callback: ConnectLookupCallback,
) => void {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true } as LookupAllOptions, (error, addresses) => {
      if (error) return callback(error, []);
      const permitted = addresses.filter((entry) => policy.allows(entry.address));
      if (permitted.length === 0) {
        return callback(addressDeniedError(addresses.map((entry) => entry.address)), []);
      }
      if (options.all) return callback(null, permitted);
      const first = permitted[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** Resolves `hostname` with `resolve` to all its addresses. */
export function lookupAll(resolve: LookupFunction, hostname: string): Promise<LookupAddress[]> {
  return new Promise((fulfil, reject) => {
    resolve(hostname, { all: true }, (error, addresses) => (error ? reject(error) : fulfil(addresses)));
  });
}
