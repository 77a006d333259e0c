/**
 * IPv6 addresses (RFC 4291) as 16-byte Uint8Arrays, and the text form at the
 * boundary (RFC 4007 §11 zones, RFC 5952 canonical output).
 *
 * In the data path an address is bytes, compared without strings. Text is
 * parsed and printed only where people type or read it, through the
 * `ip-address` library. A scoped address inside the stack is an
 * (address, zone) pair; the zone in text ("fe80::1%tap0" or "%2") is returned
 * as given, for the caller to resolve against its interface table.
 */
import { Address6 } from 'ip-address';
import { err, ok, type Result } from '../core/result.ts';

export const IN6_LEN = 16;

export interface ParsedIn6 {
  addr: Uint8Array;
  /** Zone as typed after '%' (an interface name or a decimal index), or null. */
  zone: string | null;
}

/** Parses "2001:db8::1", "fe80::1%tap0", "fe80::1%2"; refuses prefixes and junk with a readable reason. */
export function parseIn6(text: string): Result<ParsedIn6, string> {
  const s = text.trim();
  if (s.includes('/')) return err(`'${text}' is a prefix, not an address`);
  const pct = s.indexOf('%');
  const zone = pct >= 0 ? s.slice(pct + 1) : null;
  if (zone !== null && !/^[A-Za-z0-9_.-]{1,15}$/.test(zone)) return err(`'${text}': bad zone '${zone}'`);
  const bare = pct >= 0 ? s.slice(0, pct) : s;
  if (!/^[0-9A-Fa-f:.]+$/.test(bare)) return err(`'${text}' is not an IPv6 address`);
  let a: Address6;
  try {
    a = new Address6(bare);
  } catch {
    return err(`'${text}' is not an IPv6 address`);
  }
  const bytes = a.toUnsignedByteArray();
  if (bytes.length !== IN6_LEN) return err(`'${text}' is not an IPv6 address`);
  return ok({ addr: Uint8Array.from(bytes), zone });
}

/**
 * RFC 5952 text of the 16 bytes at `off`. An IPv4-mapped address
 * (::ffff:0:0/96) ends in dotted decimal, as §5 recommends; `ip-address`
 * would print it in hex.
 */
export function formatIn6(b: Uint8Array, off = 0): string {
  if (isV4Mapped(b, off)) return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  return Address6.fromUnsignedByteArray(Array.from(b.subarray(off, off + IN6_LEN))).correctForm();
}

/** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** Parses or throws: for constants in code and tests, never for user input. */
export function in6(text: string): Uint8Array {
  const r = parseIn6(text);
  if (!r.ok) throw new Error(r.error);
  return r.value.addr;
}

export function in6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff = 0): boolean {
  for (let i = 0; i < IN6_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

export function isUnspecified(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < IN6_LEN; i++) if (b[off + i] !== 0) return false;
  return true;
}

export function isLoopback(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 15; i++) if (b[off + i] !== 0) return false;
  return b[off + 15] === 1;
}

export function isMulticast(b: Uint8Array, off = 0): boolean {
  return b[off] === 0xff;
}

/** fe80::/10 */
export function isLinkLocal(b: Uint8Array, off = 0): boolean {
  return b[off] === 0xfe && (b[off + 1]! & 0xc0) === 0x80;
}

/** Scope field of a multicast address (RFC 4291 §2.7, RFC 7346): 1 interface, 2 link, 5 site, 8 org, e global. */
export function multicastScope(b: Uint8Array, off = 0): number {
  return b[off + 1]! & 0x0f;
}

/**
 * The modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291
 * Appendix A): the MAC split by ff:fe with the universal/local bit inverted.
 */
export function eui64FromMac(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(mac[0]! ^ 0x02, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!);
}

/** fe80::/64 with the EUI-64 interface identifier of `mac`. */
export function linkLocalFromMac(mac: Uint8Array): Uint8Array {
  const a = new Uint8Array(IN6_LEN);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(eui64FromMac(mac), 8);
  return a;
}

/** The solicited-node multicast group ff02::1:ffXX:XXXX of `addr` (RFC 4291 §2.7.1). */
export function solicitedNode(addr: Uint8Array, off = 0): Uint8Array {
  const a = new Uint8Array(IN6_LEN);
  a[0] = 0xff;
  a[1] = 0x02;
  a[11] = 0x01;
  a[12] = 0xff;
  a[13] = addr[off + 13]!;
  a[14] = addr[off + 14]!;
  a[15] = addr[off + 15]!;
  return a;
}
