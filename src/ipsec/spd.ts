/**
 * The Security Policy Database (RFC 4301 §4.4.1), KAME-style.
 *
 * An entry (a policy) has selectors — source and destination prefixes,
 * upper-layer protocol, ports (or ICMPv6 type and code), direction — and an
 * action: `discard`, `none` (bypass IPsec) or `ipsec` with a request list,
 * each request naming a protocol (esp, ah, ipcomp), a mode (transport,
 * tunnel with its endpoints) and a level:
 *   - use:     protect if an SA exists, else send in the clear;
 *   - require: protect or drop (inbound: cleartext is dropped);
 *   - unique:  require, with an SA bound to this policy (reqid);
 *   - default: the system-wide level for that protocol and mode (below).
 * Requests apply in list order, first innermost: `esp/transport ah/transport`
 * encrypts, then authenticates the result (KAME's order).
 *
 * Order of evaluation — deterministic, never insertion order (KAME's own
 * notes call first-added-wins a flaw; RFC 4301 §4.4.1 asks for an order
 * that does not depend on how entries arrived):
 *   1. priority, lower value first (Linux xfrm and ipsec-tools' `prio`:
 *      PRIORITY_HIGH 0x40000000 < PRIORITY_DEFAULT 0x80000000 < PRIORITY_LOW
 *      0xc0000000);
 *   2. then the more specific selector: the longer source + destination
 *      prefix lengths in total, then a named upper-layer protocol over any,
 *      then more port/type/code fields named;
 *   3. then the lower policy id (ids grow with each add: the older entry).
 * The first matching entry decides. With no match, `def_policy` decides.
 *
 * System defaults, as KAME's sysctls net.inet6.ipsec6.*:
 *   esp_trans_deflev, esp_net_deflev, ah_trans_deflev, ah_net_deflev —
 *   the level a `default` request gets (use or require; default use);
 *   def_policy — the action without a matching entry (none or discard;
 *   default none).
 *
 * Per-socket policy (KAME's IPSEC_POLICY on a socket, RFC 2367 style):
 *   bypass  — no IPsec for this socket whatever the SPD says;
 *   entrust / default — the system SPD decides;
 *   ipsec   — the socket's own requests, in the text form
 *             "esp/transport//require", "esp/tunnel/A-B/use", "ah/transport//unique:7".
 * The socket type is the one of src/udp (`SocketIpsecPolicy`), matched by
 * shape here because udp sits above ipsec.
 *
 * Cost: `active` (a plain field, kept up to date by every change) is false
 * while no entry exists and def_policy is none — ip6 output then skips
 * IPsec with that one test; `isEmpty()` is its negation. Bounded: `maxEntries`.
 */
import { PktFlag } from '../core/pkt.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IN6_LEN, formatIn6, isUnspecified, parseIn6 } from '../ip6/addr.ts';
import { IPPROTO } from '../ip6/protosw.ts';
import { maskPrefix, prefixMatch } from '../ip6/route.ts';
import type { IpsecMode } from './sad.ts';

export type Direction = 'in' | 'out';
export type PolicyAction = 'discard' | 'none' | 'ipsec';
export type Level = 'default' | 'use' | 'require' | 'unique';
export type RequestProto = 'esp' | 'ah' | 'ipcomp';
/** A level after defaults are applied. */
export type EffectiveLevel = 'use' | 'require' | 'unique';

/** "Any" for protocol, ports, ICMPv6 type and code. */
export const ANY = -1;

export const PRIORITY_HIGH = 0x4000_0000;
export const PRIORITY_DEFAULT = 0x8000_0000;
export const PRIORITY_LOW = 0xc000_0000;

export interface IpsecRequest {
  readonly proto: RequestProto;
  readonly mode: IpsecMode;
  /** Tunnel endpoints (null in transport mode). */
  readonly src: Uint8Array | null;
  readonly dst: Uint8Array | null;
  readonly level: Level;
  /** The SA binding of a unique request (0: any SA). */
  readonly reqid: number;
}

export interface RequestSpec {
  proto: RequestProto;
  mode?: IpsecMode;
  src?: Uint8Array;
  dst?: Uint8Array;
  level?: Level;
  reqid?: number;
}

export interface SelectorSpec {
  dir: Direction;
  /** Prefixes; absent means ::/0. */
  src?: Uint8Array;
  srcPlen?: number;
  dst?: Uint8Array;
  dstPlen?: number;
  /** Upper-layer protocol number, ANY (default) or 255 (setkey's `any`). */
  proto?: number;
  /** TCP/UDP/SCTP ports (ANY default). */
  sport?: number;
  dport?: number;
  /** ICMPv6 type and code (with proto 58; ANY default). */
  icmpType?: number;
  icmpCode?: number;
}

export interface PolicySpec {
  selector: SelectorSpec;
  action: PolicyAction;
  requests?: RequestSpec[];
  /** Lower first; default PRIORITY_DEFAULT. */
  priority?: number;
}

/**
 * What a packet offers to the selectors. For ICMPv6, `sport` carries the
 * type and `dport` the code (KAME's convention); ANY when unknown.
 */
export interface FlowKey {
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  sport: number;
  dport: number;
}

export interface Policy {
  /** 0 for the built-in policies (defaults, per-socket). */
  readonly id: number;
  readonly dir: Direction;
  readonly src: Uint8Array;
  readonly srcPlen: number;
  readonly dst: Uint8Array;
  readonly dstPlen: number;
  readonly proto: number;
  /** Ports, or ICMPv6 type/code. */
  readonly sport: number;
  readonly dport: number;
  readonly action: PolicyAction;
  readonly requests: readonly IpsecRequest[];
  readonly priority: number;
  /** Packets that matched. */
  hits: number;
}

export interface SpdDefaults {
  esp_trans_deflev: 'use' | 'require';
  esp_net_deflev: 'use' | 'require';
  ah_trans_deflev: 'use' | 'require';
  ah_net_deflev: 'use' | 'require';
  def_policy: 'none' | 'discard';
}

/** The per-socket policy, shaped like src/udp's SocketIpsecPolicy. */
export type SocketPolicyLike = { kind: 'default' } | { kind: 'bypass' } | { kind: 'entrust' } | { kind: 'ipsec'; requests: readonly string[] };

export interface SpdOptions {
  /** Bound on entries (default 1024). */
  maxEntries?: number;
  defaults?: Partial<SpdDefaults>;
}

const ZERO = new Uint8Array(IN6_LEN);

function builtin(dir: Direction, action: PolicyAction, requests: readonly IpsecRequest[] = []): Policy {
  return { id: 0, dir, src: ZERO, srcPlen: 0, dst: ZERO, dstPlen: 0, proto: ANY, sport: ANY, dport: ANY, action, requests, priority: PRIORITY_DEFAULT, hits: 0 };
}

/** The built-in answers: bypass (def_policy none, socket bypass) and discard. */
export const BYPASS_IN = builtin('in', 'none');
export const BYPASS_OUT = builtin('out', 'none');
export const DISCARD_IN = builtin('in', 'discard');
export const DISCARD_OUT = builtin('out', 'discard');

export class Spd {
  readonly maxEntries: number;
  /** Change through setDefault (it keeps `active` true to the defaults). */
  private readonly d: SpdDefaults;
  /** Per direction, sorted in evaluation order. */
  private readonly lists: Record<Direction, Policy[]> = { in: [], out: [] };
  private nextId = 1;
  /** False while IPsec has nothing to do (no entry, def_policy none): the one branch of ip6 output. */
  active = false;
  /** Parsed per-socket request lists, cached by the socket's array. */
  private readonly sockCache = new WeakMap<readonly string[], { in: Policy; out: Policy }>();

  constructor(opts: SpdOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1024;
    this.d = { esp_trans_deflev: 'use', esp_net_deflev: 'use', ah_trans_deflev: 'use', ah_net_deflev: 'use', def_policy: 'none', ...opts.defaults };
    this.refresh();
  }

  get defaults(): Readonly<SpdDefaults> {
    return this.d;
  }

  private refresh(): void {
    this.active = this.lists.in.length > 0 || this.lists.out.length > 0 || this.d.def_policy !== 'none';
  }

  get size(): number {
    return this.lists.in.length + this.lists.out.length;
  }

  /** True when IPsec has nothing to do: no entry and def_policy none (`!active`). */
  isEmpty(): boolean {
    return !this.active;
  }

  /**
   * Sets a system default by its KAME sysctl name; numeric values as KAME's
   * (levels: 1 use, 2 require; def_policy: 0 discard, 1 none).
   */
  setDefault(name: keyof SpdDefaults, value: string | number): Result<void, string> {
    if (name === 'def_policy') {
      const v = value === 0 || value === 'discard' ? 'discard' : value === 1 || value === 'none' ? 'none' : null;
      if (!v) return err(`def_policy: discard (0) or none (1), not ${value}`);
      this.d.def_policy = v;
      this.refresh();
      return ok(undefined);
    }
    if (!(name in this.d)) return err(`unknown default ${String(name)}`);
    const v = value === 1 || value === 'use' ? 'use' : value === 2 || value === 'require' ? 'require' : null;
    if (!v) return err(`${name}: use (1) or require (2), not ${value}`);
    this.d[name] = v;
    return ok(undefined);
  }

  /** Adds an entry (setkey spdadd). Errors are readable, for the CLI. */
  add(spec: PolicySpec): Result<Policy, string> {
    const p = this.build(spec, this.nextId);
    if (!p.ok) return p;
    const list = this.lists[p.value.dir];
    if (this.size >= this.maxEntries) return err(`SPD full (${this.maxEntries} entries)`);
    this.nextId++;
    // Binary search for the first entry that sorts after the new one.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(list[mid]!, p.value) <= 0) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, p.value);
    this.refresh();
    return p;
  }

  /** Removes an entry by id (setkey spddelete resolves the selector to an id first). */
  delete(id: number): boolean {
    for (const dir of ['in', 'out'] as const) {
      const list = this.lists[dir];
      const i = list.findIndex((p) => p.id === id);
      if (i >= 0) {
        list.splice(i, 1);
        this.refresh();
        return true;
      }
    }
    return false;
  }

  /** Entries whose selector equals `sel` exactly (setkey spddelete). */
  findExact(sel: SelectorSpec): Policy[] {
    const probe = this.build({ selector: sel, action: 'none' }, 0);
    if (!probe.ok) return [];
    const q = probe.value;
    return this.lists[sel.dir].filter(
      (p) => p.srcPlen === q.srcPlen && p.dstPlen === q.dstPlen && p.proto === q.proto && p.sport === q.sport && p.dport === q.dport && eq16(p.src, q.src) && eq16(p.dst, q.dst),
    );
  }

  /** setkey spdflush. */
  flush(): number {
    const n = this.size;
    this.lists.in.length = 0;
    this.lists.out.length = 0;
    this.refresh();
    return n;
  }

  /** Entries in evaluation order, inbound then outbound (setkey spddump). */
  list(dir?: Direction): Policy[] {
    return dir ? [...this.lists[dir]] : [...this.lists.in, ...this.lists.out];
  }

  /** The system SPD's decision for a flow: the first matching entry, else def_policy. `count`: add to its hits. */
  lookup(dir: Direction, f: FlowKey, count = true): Policy {
    const list = this.lists[dir];
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      if (matches(p, f)) {
        if (count) p.hits++;
        return p;
      }
    }
    if (this.d.def_policy === 'discard') return dir === 'in' ? DISCARD_IN : DISCARD_OUT;
    return dir === 'in' ? BYPASS_IN : BYPASS_OUT;
  }

  /**
   * The decision with a socket's own policy (KAME ipsec6_getpolicybysock):
   * bypass → none; entrust/default/no socket → the system SPD; ipsec → the
   * socket's requests. A request list that does not parse fails closed
   * (discard); validate it with `parseSocketPolicy` when it is set.
   */
  resolve(dir: Direction, f: FlowKey, sock?: SocketPolicyLike | null, count = true): Policy {
    if (!sock || sock.kind === 'default' || sock.kind === 'entrust') return this.lookup(dir, f, count);
    if (sock.kind === 'bypass') return dir === 'in' ? BYPASS_IN : BYPASS_OUT;
    let c = this.sockCache.get(sock.requests);
    if (!c) {
      const r = parseSocketPolicy(sock.requests);
      c = r.ok ? { in: builtin('in', 'ipsec', r.value), out: builtin('out', 'ipsec', r.value) } : { in: DISCARD_IN, out: DISCARD_OUT };
      this.sockCache.set(sock.requests, c);
    }
    return c[dir];
  }

  /** The level a request has once `default` is replaced by the system default. */
  levelOf(r: IpsecRequest): EffectiveLevel {
    if (r.level !== 'default') return r.level;
    const d = this.d;
    switch (r.proto) {
      case 'esp':
        return r.mode === 'tunnel' ? d.esp_net_deflev : d.esp_trans_deflev;
      case 'ah':
        return r.mode === 'tunnel' ? d.ah_net_deflev : d.ah_trans_deflev;
      case 'ipcomp':
        return 'use'; // KAME: IPComp is never required by default (it may be skipped).
    }
  }

  /**
   * RFC 4301 §5.2 / KAME ipsec6_in_reject: may a packet that arrived with
   * `pktFlags` (PktFlag.DECRYPTED after ESP, PktFlag.AUTHED after AH) be
   * delivered under `p`? Discard refuses; none accepts; ipsec refuses when a
   * require/unique ESP or AH request was not applied. IPComp is not checked
   * (the sender may skip it when it does not shrink the payload).
   */
  inboundAllowed(p: Policy, pktFlags: number): boolean {
    if (p.action === 'discard') return false;
    if (p.action === 'none') return true;
    for (const r of p.requests) {
      if (r.proto === 'ipcomp' || this.levelOf(r) === 'use') continue;
      const need = r.proto === 'esp' ? PktFlag.DECRYPTED : PktFlag.AUTHED;
      if (!(pktFlags & need)) return false;
    }
    return true;
  }

  private build(spec: PolicySpec, id: number): Result<Policy, string> {
    const s = spec.selector;
    if (s.dir !== 'in' && s.dir !== 'out') return err(`direction is in or out, not ${String(s.dir)}`);
    const srcPlen = s.srcPlen ?? (s.src ? 128 : 0);
    const dstPlen = s.dstPlen ?? (s.dst ? 128 : 0);
    for (const [n, a, l] of [
      ['source', s.src, srcPlen],
      ['destination', s.dst, dstPlen],
    ] as const) {
      if (a && a.length !== IN6_LEN) return err(`${n} is not an IPv6 address`);
      if (!Number.isInteger(l) || l < 0 || l > 128) return err(`bad ${n} prefix length ${l}`);
    }
    let proto = s.proto ?? ANY;
    if (proto === 255) proto = ANY;
    if (proto !== ANY && (!Number.isInteger(proto) || proto < 0 || proto > 254)) return err(`bad upper-layer protocol ${proto}`);
    const isIcmp = proto === IPPROTO.ICMPV6;
    if (!isIcmp && (s.icmpType !== undefined || s.icmpCode !== undefined)) return err('ICMPv6 type/code need upper-layer protocol icmp6 (58)');
    if (isIcmp && (s.sport !== undefined || s.dport !== undefined)) return err('ICMPv6 has no ports: give a type and code');
    if (proto === ANY && (s.sport !== undefined || s.dport !== undefined)) return err('ports need an upper-layer protocol');
    const sport = isIcmp ? (s.icmpType ?? ANY) : (s.sport ?? ANY);
    const dport = isIcmp ? (s.icmpCode ?? ANY) : (s.dport ?? ANY);
    const max = isIcmp ? 255 : 65535;
    for (const v of [sport, dport]) if (v !== ANY && (!Number.isInteger(v) || v < 0 || v > max)) return err(`bad ${isIcmp ? 'ICMPv6 type/code' : 'port'} ${v}`);
    if (isIcmp && sport === ANY && dport !== ANY) return err('an ICMPv6 code needs a type');
    const priority = spec.priority ?? PRIORITY_DEFAULT;
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff_ffff) return err(`bad priority ${priority}`);
    if (spec.action !== 'discard' && spec.action !== 'none' && spec.action !== 'ipsec') return err(`bad action ${String(spec.action)}`);
    const requests: IpsecRequest[] = [];
    if (spec.action === 'ipsec') {
      if (!spec.requests?.length) return err('an ipsec policy needs at least one request');
      for (const r of spec.requests) {
        const q = checkRequest(r);
        if (!q.ok) return q;
        requests.push(q.value);
      }
      const o = checkOrder(requests);
      if (!o.ok) return o;
    } else if (spec.requests?.length) return err(`a ${spec.action} policy takes no requests`);
    return ok({
      id,
      dir: s.dir,
      src: s.src ? maskPrefix(s.src, srcPlen) : ZERO,
      srcPlen,
      dst: s.dst ? maskPrefix(s.dst, dstPlen) : ZERO,
      dstPlen,
      proto,
      sport,
      dport,
      action: spec.action,
      requests: Object.freeze(requests),
      priority,
      hits: 0,
    });
  }
}

function checkRequest(r: RequestSpec): Result<IpsecRequest, string> {
  if (r.proto !== 'esp' && r.proto !== 'ah' && r.proto !== 'ipcomp') return err(`bad protocol ${String(r.proto)}`);
  const mode = r.mode ?? 'transport';
  if (mode !== 'transport' && mode !== 'tunnel') return err(`bad mode ${String(mode)}`);
  const level = r.level ?? 'default';
  if (!['default', 'use', 'require', 'unique'].includes(level)) return err(`bad level ${String(level)}`);
  const reqid = r.reqid ?? 0;
  if (!Number.isInteger(reqid) || reqid < 0 || reqid > 0xffff_ffff) return err(`bad reqid ${reqid}`);
  if (reqid !== 0 && level !== 'unique') return err('a reqid goes with level unique');
  if (mode === 'tunnel') {
    if (!r.src || !r.dst || r.src.length !== IN6_LEN || r.dst.length !== IN6_LEN || isUnspecified(r.src) || isUnspecified(r.dst)) {
      return err('a tunnel request needs both endpoints');
    }
    return ok({ proto: r.proto, mode, src: r.src.slice(), dst: r.dst.slice(), level, reqid });
  }
  if (r.src || r.dst) return err('transport mode takes no endpoints');
  return ok({ proto: r.proto, mode, src: null, dst: null, level, reqid });
}

/**
 * Parses one request in KAME's text form (ipsec_set_policy, setkey):
 * `protocol/mode/src-dst/level`, level one of default, use, require,
 * unique or unique:N (N the reqid); an empty or missing level is default.
 * Examples: "esp/transport//require", "esp/tunnel/2001:db8::1-2001:db8::2/use".
 */
export function parseRequest(text: string): Result<IpsecRequest, string> {
  const parts = text.trim().split('/');
  if (parts.length < 2 || parts.length > 4) return err(`'${text}': expected protocol/mode/src-dst/level`);
  const [proto, mode, ends = '', lv = ''] = parts as [string, string, string?, string?];
  if (proto !== 'esp' && proto !== 'ah' && proto !== 'ipcomp') return err(`'${text}': protocol is esp, ah or ipcomp`);
  if (mode !== 'transport' && mode !== 'tunnel') return err(`'${text}': mode is transport or tunnel`);
  let level: Level = 'default';
  let reqid = 0;
  const m = /^unique:(\d+)$/.exec(lv);
  if (m) {
    level = 'unique';
    reqid = Number(m[1]);
  } else if (lv === '' || lv === 'default' || lv === 'use' || lv === 'require' || lv === 'unique') {
    level = lv === '' ? 'default' : lv;
  } else return err(`'${text}': level is default, use, require or unique[:N]`);
  const spec: RequestSpec = { proto, mode, level, reqid };
  if (ends !== '') {
    // Addresses contain ':' but never '-': the dash separates the endpoints.
    const dash = ends.indexOf('-');
    if (dash < 0) return err(`'${text}': endpoints are src-dst`);
    const a = parseIn6(ends.slice(0, dash));
    const b = parseIn6(ends.slice(dash + 1));
    if (!a.ok) return err(`'${text}': ${a.error}`);
    if (!b.ok) return err(`'${text}': ${b.error}`);
    spec.src = a.value.addr;
    spec.dst = b.value.addr;
  }
  const r = checkRequest(spec);
  return r.ok ? r : err(`'${text}': ${r.error}`);
}

/** Validates a socket's request list (for setsockopt-time errors). */
export function parseSocketPolicy(requests: readonly string[]): Result<IpsecRequest[], string> {
  if (requests.length === 0) return err('an ipsec socket policy needs at least one request');
  const out: IpsecRequest[] = [];
  for (const t of requests) {
    const r = parseRequest(t);
    if (!r.ok) return r;
    out.push(r.value);
  }
  const o = checkOrder(out);
  return o.ok ? ok(out) : o;
}

/**
 * Requests apply in list order, the first innermost. Compression must come
 * before encryption (RFC 3173 §2: ciphertext does not compress), so IPComp
 * may not follow ESP or AH.
 */
function checkOrder(requests: readonly IpsecRequest[]): Result<true, string> {
  let protectedBy: string | null = null;
  for (const r of requests) {
    if (r.proto === 'ipcomp' && protectedBy) return err(`ipcomp must come before ${protectedBy} in the request list (compression before encryption, RFC 3173 §2)`);
    if (r.proto !== 'ipcomp') protectedBy ??= r.proto;
  }
  return ok(true);
}

/**
 * Checks a socket policy as the socket API receives it (setsockopt time):
 * null if it is one of bypass, entrust, default, or ipsec with a request
 * list that parses; otherwise what is wrong.
 */
export function checkSocketPolicy(p: unknown): string | null {
  const kind = typeof p === 'object' && p !== null ? (p as { kind?: unknown }).kind : undefined;
  if (kind === 'default' || kind === 'bypass' || kind === 'entrust') return null;
  if (kind !== 'ipsec') return "kind is 'default', 'bypass', 'entrust' or 'ipsec'";
  const req = (p as { requests?: unknown }).requests;
  if (!Array.isArray(req) || !req.every((x) => typeof x === 'string')) return 'requests is an array of strings such as "esp/transport//require"';
  const r = parseSocketPolicy(req as string[]);
  return r.ok ? null : r.error;
}

/** Text of a request, as parseRequest reads it. */
export function formatRequest(r: IpsecRequest): string {
  const ends = r.src && r.dst ? `${formatIn6(r.src)}-${formatIn6(r.dst)}` : '';
  const level = r.level === 'unique' && r.reqid ? `unique:${r.reqid}` : r.level;
  return `${r.proto}/${r.mode}/${ends}/${level}`;
}

function matches(p: Policy, f: FlowKey): boolean {
  if (p.proto !== ANY && p.proto !== f.proto) return false;
  if (p.sport !== ANY && p.sport !== f.sport) return false;
  if (p.dport !== ANY && p.dport !== f.dport) return false;
  if (p.dstPlen && !prefixMatch(f.dst, 0, p.dst, p.dstPlen)) return false;
  if (p.srcPlen && !prefixMatch(f.src, 0, p.src, p.srcPlen)) return false;
  return true;
}

/** Evaluation order: priority, specificity, id (see the module comment). Negative: a first. */
export function compare(a: Policy, b: Policy): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const pl = b.srcPlen + b.dstPlen - (a.srcPlen + a.dstPlen);
  if (pl !== 0) return pl;
  const pa = a.proto !== ANY ? 1 : 0;
  const pb = b.proto !== ANY ? 1 : 0;
  if (pa !== pb) return pb - pa;
  const na = (a.sport !== ANY ? 1 : 0) + (a.dport !== ANY ? 1 : 0);
  const nb = (b.sport !== ANY ? 1 : 0) + (b.dport !== ANY ? 1 : 0);
  if (na !== nb) return nb - na;
  return a.id - b.id;
}

function eq16(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < IN6_LEN; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Fills `f` from a packet: addresses (views), the upper-layer protocol and,
 * when the header is present at `b[off]`, the TCP/UDP ports or the ICMPv6
 * type and code. Reuse one FlowKey per caller: nothing is allocated.
 */
export function fillFlow(f: FlowKey, src: Uint8Array, dst: Uint8Array, proto: number, b: Uint8Array, off: number): FlowKey {
  f.src = src;
  f.dst = dst;
  f.proto = proto;
  f.sport = ANY;
  f.dport = ANY;
  if (proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === 132 /* SCTP */) {
    if (off + 4 <= b.length) {
      f.sport = (b[off]! << 8) | b[off + 1]!;
      f.dport = (b[off + 2]! << 8) | b[off + 3]!;
    }
  } else if (proto === IPPROTO.ICMPV6 && off + 2 <= b.length) {
    f.sport = b[off]!;
    f.dport = b[off + 1]!;
  }
  return f;
}
