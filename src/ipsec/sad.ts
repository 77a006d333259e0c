/**
 * The Security Association Database (RFC 4301 §4.4.2).
 *
 * Inbound, an SA is found by (SPI, destination, protocol) — RFC 4301
 * §4.1's unicast lookup, SPI first (a Map keyed by the SPI number, then a
 * byte comparison of the destination: no strings in the data path). IPComp
 * SAs (RFC 3173) keep their 16-bit CPI in the SPI field and are found on
 * input by the CPI on the wire and the destination (`lookupIpcompIn`).
 *
 * Outbound, by what the policy's request asks for: (protocol, mode,
 * source, destination[, reqid]). Several SAs may match while one replaces
 * another; the rule is:
 *   1. only usable SAs: state mature or dying (larval SAs have no keys yet,
 *      dead ones are gone), and whose sequence number can still advance;
 *   2. mature before dying;
 *   3. then the newest (latest installed).
 * So a replacement SA takes over the moment it is installed, while the old
 * one still accepts the packets in flight until it is deleted (the next
 * issue's make-before-break rekeying builds on exactly this). KAME's
 * `key_preferred_oldsa` knob chose the oldest; modern FreeBSD and Linux
 * prefer the newest, as we do.
 *
 * The SA holds its transforms (keys imported once, crypto.ts), its replay
 * window, 64-bit sequence counters and the lifetime counters (RFC 4301
 * §4.4.2.1: bytes, packets, add time, use time) with soft and hard limits as
 * plain fields: counting happens in esp.ts/ah.ts, the expiry policy that
 * acts on the limits is the next issue's.
 *
 * Bounded: `maxEntries` SAs; `add` refuses past it.
 */
import type { Clock } from '../core/clock.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IN6_LEN, formatIn6, in6Equal, isUnspecified } from '../ip6/addr.ts';
import { in6Hash } from '../ip6/in6map.ts';
import {
  type AhXform,
  type AuthAlgorithm,
  type CryptoBackend,
  type EncAlgorithm,
  type EspXform,
  makeAhXform,
  makeEspXform,
  nodeBackend,
} from './crypto.ts';
import { IPCOMP_CPI_DEFLATE, IPCOMP_CPI_NEGOTIATE_MIN } from './ipcomp.ts';
import { MAX_REPLAY_WINDOW, ReplayWindow } from './replay.ts';

export type IpsecProto = 'esp' | 'ah' | 'ipcomp';
/** IPComp's compression algorithms (RFC 2394). */
export type CompAlgorithm = 'deflate';
export type IpsecMode = 'transport' | 'tunnel';
/** KAME's SADB_SASTATE_*: larval (SPI reserved, no keys), mature, dying (soft limit passed), dead. */
export type SaState = 'larval' | 'mature' | 'dying' | 'dead';

/** Lifetime limits (RFC 4301 §4.4.2.1, PF_KEY's sadb_lifetime); 0 means no limit. Times in seconds. */
export interface Lifetime {
  bytes: number;
  packets: number;
  addtime: number;
  usetime: number;
}

export const DEFAULT_REPLAY_WINDOW = 64;
/** Without ESN the last sequence number is 2^32 - 1 (RFC 4303 §3.3.3: never cycle). */
export const SEQ_MAX_32 = 0xffff_ffff;
/** With ESN: 2^53 - 1, the exact range of a JS number (see replay.ts). */
export const SEQ_MAX_64 = Number.MAX_SAFE_INTEGER;

export interface SaSpec {
  spi: number;
  proto: IpsecProto;
  /** Default transport. */
  mode?: IpsecMode;
  /** Endpoints: the hosts (transport) or the tunnel's ends (tunnel). 16 bytes each. */
  src: Uint8Array;
  dst: Uint8Array;
  /** Zone of link-local endpoints (0: any). */
  zone?: number;
  /** ESP only. */
  enc?: EncAlgorithm;
  encKey?: Uint8Array;
  auth?: AuthAlgorithm;
  authKey?: Uint8Array;
  /** Anti-replay window in packets (default 64; 0 disables it, not allowed with ESN). */
  replayWindow?: number;
  /** Extended (64-bit) sequence numbers. */
  esn?: boolean;
  /** Last sequence number sent (the next packet carries seq + 1); default 0. */
  seq?: number;
  /** Highest sequence number already received (the replay window's T); default 0. */
  replaySeq?: number;
  /** Default mature. */
  state?: SaState;
  /** Binds the SA to policies asking for this reqid (level unique); 0: none. */
  reqid?: number;
  /** IPComp only: the algorithm (default deflate). */
  calg?: CompAlgorithm;
  /**
   * IPComp only (setkey -R): the SPI is the CPI on the wire. Without it the
   * SPI only names the SA and the wire carries the algorithm's well-known
   * CPI (2 for DEFLATE), as KAME does.
   */
  cpiRaw?: boolean;
  soft?: Partial<Lifetime>;
  hard?: Partial<Lifetime>;
}

/** Per-SA counters (KAME's per-SA stats, `ip xfrm -s state`). */
export interface SaCounters {
  replay: number;
  tooOld: number;
  authFail: number;
  badPad: number;
}

let nextId = 1;

export class SecAssoc {
  /** Installation order, unique in the process: larger is newer. */
  readonly id = nextId++;
  readonly spi: number;
  readonly proto: IpsecProto;
  readonly mode: IpsecMode;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly zone: number;
  readonly enc: EncAlgorithm;
  readonly auth: AuthAlgorithm;
  readonly encKey: Uint8Array;
  readonly authKey: Uint8Array;
  readonly esn: boolean;
  readonly reqid: number;
  /** IPComp: the algorithm (null for ESP and AH). */
  readonly calg: CompAlgorithm | null;
  /** IPComp: whether the SPI is the wire CPI (setkey -R). */
  readonly cpiRaw: boolean;
  /** IPComp: the CPI sent and matched on the wire. */
  readonly cpi: number;
  /** ESP's transforms (null for AH and IPComp). */
  readonly esp: EspXform | null;
  /** AH's transform (null for ESP). */
  readonly ah: AhXform | null;
  readonly replay: ReplayWindow;
  state: SaState;
  /** Last sequence number sent (64-bit as a JS number). */
  seq: number;
  /** Clock time the SA was installed, and first used (-1: not yet). */
  readonly addedAt: number;
  usedAt = -1;
  /** Lifetime current values: bytes of payload protected, packets. */
  bytes = 0;
  packets = 0;
  readonly soft: Lifetime;
  readonly hard: Lifetime;
  readonly counters: SaCounters = { replay: 0, tooOld: 0, authFail: 0, badPad: 0 };
  /** Scratch for ESP/AH (the ESN high half, the AAD, the IV): per SA, reused every packet. */
  readonly scratch = { hi: new Uint8Array(4), aad8: new Uint8Array(8), aad12: new Uint8Array(12), iv: new Uint8Array(16) };

  /** Use `Sad.add`, which validates. */
  constructor(spec: SaSpec, xf: { esp: EspXform | null; ah: AhXform | null }, now: number) {
    this.spi = spec.spi >>> 0;
    this.proto = spec.proto;
    this.mode = spec.mode ?? 'transport';
    this.src = spec.src.slice(0, IN6_LEN);
    this.dst = spec.dst.slice(0, IN6_LEN);
    this.zone = spec.zone ?? 0;
    this.enc = spec.enc ?? 'null';
    this.auth = spec.auth ?? 'none';
    this.encKey = (spec.encKey ?? new Uint8Array(0)).slice();
    this.authKey = (spec.authKey ?? new Uint8Array(0)).slice();
    this.esn = spec.esn ?? false;
    this.reqid = spec.reqid ?? 0;
    this.calg = this.proto === 'ipcomp' ? (spec.calg ?? 'deflate') : null;
    this.cpiRaw = this.proto === 'ipcomp' && (spec.cpiRaw ?? false);
    this.cpi = this.proto !== 'ipcomp' ? 0 : this.cpiRaw ? this.spi : IPCOMP_CPI_DEFLATE;
    this.esp = xf.esp;
    this.ah = xf.ah;
    // IPComp has no sequence number: no window.
    this.replay = new ReplayWindow(this.proto === 'ipcomp' ? 0 : (spec.replayWindow ?? DEFAULT_REPLAY_WINDOW), this.esn, spec.replaySeq ?? 0);
    this.state = spec.state ?? 'mature';
    this.seq = spec.seq ?? 0;
    this.addedAt = now;
    this.soft = lifetime(spec.soft);
    this.hard = lifetime(spec.hard);
  }

  /** Largest sequence number this SA may send. */
  get seqMax(): number {
    return this.esn ? SEQ_MAX_64 : SEQ_MAX_32;
  }

  /** Mature or dying: may protect and accept packets. */
  get usable(): boolean {
    return this.state === 'mature' || this.state === 'dying';
  }

  /** Counts a packet of `bytes` payload against the lifetime (RFC 4301 §4.4.2.1). */
  account(bytes: number, now: number): void {
    this.bytes += bytes;
    this.packets++;
    if (this.usedAt < 0) this.usedAt = now;
  }

  toString(): string {
    return `${this.proto} spi 0x${this.spi.toString(16).padStart(8, '0')} ${formatIn6(this.src)} -> ${formatIn6(this.dst)} ${this.mode} ${this.state}`;
  }
}

function lifetime(l: Partial<Lifetime> | undefined): Lifetime {
  return { bytes: l?.bytes ?? 0, packets: l?.packets ?? 0, addtime: l?.addtime ?? 0, usetime: l?.usetime ?? 0 };
}

export interface SadOptions {
  clock: Clock;
  /** Default node:crypto. */
  backend?: CryptoBackend;
  /** Bound on SAs (default 4096). */
  maxEntries?: number;
}

export class Sad {
  readonly backend: CryptoBackend;
  readonly maxEntries: number;
  private readonly clock: Clock;
  /** Inbound index: SPI -> SAs with that SPI (different destinations or protocols). */
  private readonly bySpi = new Map<number, SecAssoc[]>();
  /** Outbound index: hash of the destination -> SAs to it. */
  private readonly byDst = new Map<number, SecAssoc[]>();
  private n = 0;

  constructor(opts: SadOptions) {
    this.clock = opts.clock;
    this.backend = opts.backend ?? nodeBackend;
    this.maxEntries = opts.maxEntries ?? 4096;
  }

  get size(): number {
    return this.n;
  }

  /** Validates and installs an SA (setkey `add`). Errors are readable, for the CLI. */
  add(spec: SaSpec): Result<SecAssoc, string> {
    if (!Number.isInteger(spec.spi) || spec.spi < 0 || spec.spi > SEQ_MAX_32) return err(`bad SPI ${spec.spi}`);
    if (spec.proto !== 'esp' && spec.proto !== 'ah' && spec.proto !== 'ipcomp') return err(`bad protocol ${String(spec.proto)}`);
    if (spec.proto === 'ipcomp') {
      const e = checkIpcomp(spec);
      if (e) return err(e);
    } else {
      // RFC 4303 §2.1: SPIs 1-255 are reserved by IANA; 0 is never on the wire.
      if (spec.spi < 256) return err(`SPI ${spec.spi} is reserved (0-255)`);
      if (spec.calg !== undefined || spec.cpiRaw) return err(`${spec.proto} does not compress (calg and cpiRaw are IPComp's)`);
    }
    if (spec.src?.length !== IN6_LEN || spec.dst?.length !== IN6_LEN) return err('SA endpoints are IPv6 addresses (16 bytes)');
    if (isUnspecified(spec.dst)) return err('SA destination cannot be ::');
    const mode = spec.mode ?? 'transport';
    if (mode !== 'transport' && mode !== 'tunnel') return err(`bad mode ${String(mode)}`);
    if (mode === 'tunnel' && isUnspecified(spec.src)) return err('a tunnel SA needs both endpoints');
    const w = spec.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (!Number.isInteger(w) || w < 0 || w > MAX_REPLAY_WINDOW) return err(`replay window ${w} outside 0..${MAX_REPLAY_WINDOW}`);
    const esn = spec.esn ?? false;
    if (esn && w === 0) return err('ESN needs a replay window (RFC 4303 Appendix A2)');
    const seqMax = esn ? SEQ_MAX_64 : SEQ_MAX_32;
    for (const [name, v] of [
      ['seq', spec.seq ?? 0],
      ['replaySeq', spec.replaySeq ?? 0],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > seqMax) return err(`${name} ${v} outside 0..${seqMax}`);
    }
    if (spec.reqid !== undefined && (!Number.isInteger(spec.reqid) || spec.reqid < 0 || spec.reqid > SEQ_MAX_32)) return err(`bad reqid ${spec.reqid}`);
    if (this.bySpi.get(spec.spi >>> 0)?.some((sa) => sa.proto === spec.proto && in6Equal(spec.dst, 0, sa.dst))) return err(`${spec.proto} SA with SPI 0x${spec.spi.toString(16)} to ${formatIn6(spec.dst)} exists`);
    if (this.n >= this.maxEntries) return err(`SAD full (${this.maxEntries} SAs)`);
    let esp: EspXform | null = null;
    let ah: AhXform | null = null;
    const none = new Uint8Array(0);
    if (spec.proto === 'ipcomp') {
      // No keys, no transform object: compression is stateless (ipcomp.ts).
    } else if (spec.proto === 'esp') {
      const x = makeEspXform(this.backend, spec.enc ?? 'null', spec.encKey ?? none, spec.auth ?? 'none', spec.authKey ?? none);
      if (!x.ok) return x;
      esp = x.value;
    } else {
      if (spec.enc !== undefined && spec.enc !== 'null') return err('AH does not encrypt');
      const x = makeAhXform(this.backend, spec.auth ?? 'none', spec.authKey ?? none);
      if (!x.ok) return x;
      ah = x.value;
    }
    const sa = new SecAssoc(spec, { esp, ah }, this.clock.now());
    push(this.bySpi, sa.spi, sa);
    push(this.byDst, in6Hash(sa.dst, 0, 0), sa);
    this.n++;
    return ok(sa);
  }

  /**
   * The inbound lookup (RFC 4301 §4.1): the SA for a received packet's SPI,
   * destination (at `dstOff` in `dst`) and protocol, in any state — the
   * caller checks `usable` (esp.ts and ah.ts do).
   */
  lookupIn(spi: number, dst: Uint8Array, proto: IpsecProto, zone = 0, dstOff = 0): SecAssoc | undefined {
    const list = this.bySpi.get(spi >>> 0);
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const sa = list[i]!;
      if (sa.proto === proto && (sa.zone === 0 || zone === 0 || sa.zone === zone) && in6Equal(dst, dstOff, sa.dst)) return sa;
    }
    return undefined;
  }

  /**
   * The inbound IPComp lookup: a usable SA for the CPI on the wire and the
   * destination (RFC 3173 §3.3: CPI, destination, protocol 108). A packet
   * with no such SA is dropped (inNoSa): unlike KAME, a well-known CPI is
   * not taken without an SA (Linux also wants one).
   */
  lookupIpcompIn(cpi: number, dst: Uint8Array, zone = 0, dstOff = 0): SecAssoc | undefined {
    const list = this.byDst.get(in6Hash(dst, dstOff, 0));
    if (!list) return undefined;
    let best: SecAssoc | undefined;
    for (let i = 0; i < list.length; i++) {
      const sa = list[i]!;
      if (sa.proto !== 'ipcomp' || sa.cpi !== cpi || !sa.usable) continue;
      if (!(sa.zone === 0 || zone === 0 || sa.zone === zone) || !in6Equal(dst, dstOff, sa.dst)) continue;
      if (!best || better(sa, best)) best = sa;
    }
    return best;
  }

  /**
   * A usable IPComp tunnel SA from `src` to `dst` (any CPI): an IPv6-in-IPv6
   * packet from that peer is an IPComp packet sent uncompressed (RFC 3173
   * §2.2) and is accepted as such.
   */
  ipcompTunnel(src: Uint8Array, dst: Uint8Array, zone = 0): SecAssoc | undefined {
    const list = this.byDst.get(in6Hash(dst, 0, 0));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const sa = list[i]!;
      if (sa.proto !== 'ipcomp' || sa.mode !== 'tunnel' || !sa.usable) continue;
      if (!(sa.zone === 0 || zone === 0 || sa.zone === zone)) continue;
      if (in6Equal(dst, 0, sa.dst) && in6Equal(src, 0, sa.src)) return sa;
    }
    return undefined;
  }

  /**
   * The outbound choice: the best usable SA for (proto, mode, src, dst), and
   * `reqid` when the policy names one (level unique). An SA whose source is
   * :: matches any source (transport SAs keyed by destination only).
   */
  lookupOut(proto: IpsecProto, mode: IpsecMode, src: Uint8Array, dst: Uint8Array, reqid = 0): SecAssoc | undefined {
    const list = this.byDst.get(in6Hash(dst, 0, 0));
    if (!list) return undefined;
    let best: SecAssoc | undefined;
    for (let i = 0; i < list.length; i++) {
      const sa = list[i]!;
      if (sa.proto !== proto || sa.mode !== mode || !sa.usable || sa.seq >= sa.seqMax) continue;
      if (reqid !== 0 && sa.reqid !== reqid) continue;
      if (!in6Equal(dst, 0, sa.dst)) continue;
      if (!in6Equal(src, 0, sa.src) && !isUnspecified(sa.src)) continue;
      if (!best || better(sa, best)) best = sa;
    }
    return best;
  }

  /** setkey `get`. */
  get(spi: number, dst: Uint8Array, proto: IpsecProto): SecAssoc | undefined {
    return this.lookupIn(spi, dst, proto);
  }

  /** setkey `delete`: removes the SA and marks it dead (packets holding it see that). */
  delete(spi: number, dst: Uint8Array, proto: IpsecProto): boolean {
    const sa = this.lookupIn(spi, dst, proto);
    if (!sa) return false;
    this.remove(sa);
    return true;
  }

  /** Removes one SA object. */
  remove(sa: SecAssoc): boolean {
    if (!pull(this.bySpi, sa.spi, sa)) return false;
    pull(this.byDst, in6Hash(sa.dst, 0, 0), sa);
    sa.state = 'dead';
    this.n--;
    return true;
  }

  /** setkey `flush` (all protocols, or one). Returns how many were removed. */
  flush(proto?: IpsecProto): number {
    let k = 0;
    for (const sa of this.list()) if (!proto || sa.proto === proto) k += this.remove(sa) ? 1 : 0;
    return k;
  }

  /** All SAs, oldest first (setkey `dump`). */
  list(): SecAssoc[] {
    return [...this.bySpi.values()].flat().sort((a, b) => a.id - b.id);
  }
}

/** What is wrong with an IPComp SA's spec (null: nothing). */
function checkIpcomp(spec: SaSpec): string | null {
  // The CPI is 16 bits (RFC 3173 §2.2); 0 is never valid.
  if (spec.spi < 1 || spec.spi > 0xffff) return `IPComp CPI ${spec.spi} outside 1..65535`;
  if ((spec.calg ?? 'deflate') !== 'deflate') return `IPComp algorithm ${String(spec.calg)} is not supported (deflate)`;
  // A raw CPI below 256 is a well-known algorithm number or reserved (RFC 3173 §3.3).
  if (spec.cpiRaw && spec.spi < IPCOMP_CPI_NEGOTIATE_MIN && spec.spi !== IPCOMP_CPI_DEFLATE) {
    return `IPComp CPI ${spec.spi} with -R: below 256 only ${IPCOMP_CPI_DEFLATE} (deflate's well-known CPI) fits`;
  }
  if (spec.enc !== undefined || spec.auth !== undefined || spec.encKey?.length || spec.authKey?.length) return 'IPComp takes no encryption or authentication';
  if (spec.esn) return 'IPComp has no sequence numbers (no ESN)';
  return null;
}

/** Mature before dying, then newest. */
function better(a: SecAssoc, b: SecAssoc): boolean {
  if (a.state !== b.state) return a.state === 'mature';
  return a.id > b.id;
}

function push(m: Map<number, SecAssoc[]>, k: number, sa: SecAssoc): void {
  const l = m.get(k);
  if (l) l.push(sa);
  else m.set(k, [sa]);
}

function pull(m: Map<number, SecAssoc[]>, k: number, sa: SecAssoc): boolean {
  const l = m.get(k);
  if (!l) return false;
  const i = l.indexOf(sa);
  if (i < 0) return false;
  l.splice(i, 1);
  if (l.length === 0) m.delete(k);
  return true;
}
