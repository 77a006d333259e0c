/**
 * Rig for the TCP engine and API tests (DESIGN §3 rule 8): stacks on a
 * VirtualLink driven by a VirtualClock, with
 *  - `RawPeer`, a TCP endpoint played by the test on the link's raw port: it
 *    crafts segments with src/tcp/wire.ts's emitTcp and the IPv6 checksum,
 *    and parses what the stack sends to it with parseTcp, keeping just enough
 *    state (SND.NXT, RCV.NXT, the timestamp to echo) that a test can speak in
 *    sequence without arithmetic in every line;
 *  - `pump`, which advances the clock and lets the socket layer's microtasks
 *    and nextTicks run (stream events are not synchronous);
 *  - small stream helpers for stack-to-stack transfers.
 */
import type { VirtualClock } from '../../src/core/clock.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { formatIn6 } from '../../src/ip6/addr.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import type { TcpCb, TcpConfig } from '../../src/tcp/tcpcb.ts';
import { TH_ACK, TH_FIN, TH_RST, TH_SYN, type TcpOptions, type TcpRepr, emitTcp, flagsText, parseTcp, tcpHeaderLen } from '../../src/tcp/wire.ts';
import { type FrameSeen, type Host, type Net, type NetOptions, RAW_LL, eq, icmpFrame, introduce, ip6Frame, makeNet } from './stack.ts';

export const NXT_TCP = 6;
export { TH_ACK, TH_FIN, TH_RST, TH_SYN };
export const TH_PSH = 0x08;

/** Lets the socket layer's microtasks, nextTicks and stream callbacks run. */
export async function turns(n = 2): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advances the clock by `ms` in steps of `step`, letting callbacks run after each step. */
export async function pump(clock: VirtualClock, ms = 0, step = ms || 1): Promise<void> {
  if (ms === 0) {
    clock.advance(0);
    await turns();
    return;
  }
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await turns();
  }
}

/** Pumps until `cond()` holds (checked after every step); throws after `maxMs`. */
export async function until(clock: VirtualClock, cond: () => boolean, what: string, step = 10, maxMs = 600_000): Promise<void> {
  for (let t = 0; t <= maxMs; t += step) {
    if (cond()) return;
    clock.advance(step);
    await turns();
  }
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

/** makeNet with TCP tunables applied to every stack (before any connection exists). */
export function tcpNet(o: NetOptions & { tcp?: Partial<TcpConfig> } = {}): Net {
  const net = makeNet(o);
  if (o.tcp) for (const h of net.hosts) Object.assign(h.s.tcp.config, o.tcp);
  return net;
}

/** "fe80::…%vl0": how an application names a host's link-local address. */
export function llText(h: Host): string {
  return `${formatIn6(h.ll)}%${h.ifp.name}`;
}

export const RAW_TEXT = `${formatIn6(RAW_LL)}%vl0`;

/** A TCP segment seen on the link. */
export interface SegSeen {
  at: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** IPv6 packet length (header included). */
  packetLen: number;
  repr: TcpRepr;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: TcpOptions;
  data: Uint8Array;
  /** Sequence space the segment takes (data + SYN + FIN). */
  segLen: number;
  cksumOk: boolean;
}

/** The TCP segment in a frame, or null. */
export function tcpOf(f: FrameSeen): SegSeen | null {
  const ip = f.ip6;
  if (!ip || ip.nxt !== NXT_TCP) return null;
  const p = ip.payload;
  const r = parseTcp(p, 0, p.length);
  if (!r.ok) return null;
  const repr = r.value.repr;
  const data = p.slice(r.value.dataOff);
  return {
    at: f.at,
    src: ip.src,
    dst: ip.dst,
    packetLen: ip.packet.length,
    repr,
    seq: repr.seq,
    ack: repr.ack,
    flags: repr.flags,
    window: repr.window,
    options: repr.options,
    data,
    segLen: data.length + (repr.flags & TH_SYN ? 1 : 0) + (repr.flags & TH_FIN ? 1 : 0),
    cksumOk: in6Cksum(p, 0, p.length, NXT_TCP, ip.src, ip.dst) === 0,
  };
}

/** A one-line description for test messages: "S seq=1 ack=0 len=0 win=65535". */
export function describe(s: SegSeen): string {
  return `${flagsText(s.flags)} seq=${s.seq} ack=${s.ack} len=${s.data.length} win=${s.window}`;
}

export function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >>> 9)) & 0xff;
  return b;
}

const u32 = (x: number) => x >>> 0;

export interface PeerOptions {
  /** Our port (default 4000). */
  port?: number;
  iss?: number;
  /** Options the peer puts in its SYN / SYN-ACK. Default: MSS 1440, no others. */
  mss?: number | null;
  wscale?: number | null;
  ts?: boolean;
  sackPermitted?: boolean;
  /** Receive window the peer advertises (unscaled value on the wire, default 65535). */
  window?: number;
}

/**
 * A TCP endpoint played by the test through the raw port of the link, talking
 * to host `h`. It tracks:
 *  - `sndNxt`: the sequence number of its next byte,
 *  - `rcvNxt`: what it acknowledges (advanced by `ackAll` or explicitly),
 *  - timestamps: when negotiated, every segment carries TSval = `tsVal` and
 *    echoes the last TSval the stack sent.
 */
export class RawPeer {
  readonly port: number;
  iss: number;
  sndNxt: number;
  rcvNxt = 0;
  /** The stack's port. */
  remotePort = 0;
  window: number;
  tsOk = false;
  tsVal = 1000;
  tsEcr = 0;
  private seen = 0;

  constructor(
    readonly net: Net,
    readonly h: Host,
    readonly o: PeerOptions = {},
  ) {
    this.port = o.port ?? 4000;
    this.iss = o.iss ?? 0x10000;
    this.sndNxt = this.iss;
    this.window = o.window ?? 65535;
    introduce(net, h);
  }

  get clock(): VirtualClock {
    return this.net.clock;
  }

  /** Every TCP segment the stack sent to the peer (our port), in order. */
  all(): SegSeen[] {
    const out: SegSeen[] = [];
    for (const f of this.net.raw.frames) {
      const s = tcpOf(f);
      if (s && s.repr.dport === this.port && eq(s.dst, RAW_LL)) out.push(s);
    }
    return out;
  }

  /** Segments that arrived since the last call to take() (or clear()); the last TSval is remembered for echoing. */
  take(): SegSeen[] {
    const all = this.all();
    const fresh = all.slice(this.seen);
    this.seen = all.length;
    for (const s of fresh) if (s.options.ts) this.tsEcr = s.options.ts.val;
    return fresh;
  }

  /** Forgets what was seen so far. */
  clear(): void {
    this.take();
  }

  /** Builds and sends one segment from the peer. Fields default to the peer's state. */
  send(o: Partial<Omit<TcpRepr, 'options'>> & { options?: TcpOptions; data?: Uint8Array; noTs?: boolean; badCksum?: boolean } = {}): void {
    const options: TcpOptions = { ...(o.options ?? {}) };
    if (this.tsOk && !o.noTs && options.ts === undefined && !((o.flags ?? TH_ACK) & TH_RST)) options.ts = { val: this.tsVal, ecr: this.tsEcr };
    const repr: TcpRepr = {
      sport: o.sport ?? this.port,
      dport: o.dport ?? this.remotePort,
      seq: u32(o.seq ?? this.sndNxt),
      ack: u32(o.ack ?? this.rcvNxt),
      flags: o.flags ?? TH_ACK,
      window: o.window ?? this.window,
      urgent: o.urgent ?? 0,
      options,
    };
    const data = o.data ?? new Uint8Array(0);
    const hl = tcpHeaderLen(repr);
    const seg = new Uint8Array(hl + data.length);
    emitTcp(repr, seg, 0);
    seg.set(data, hl);
    let ck = in6Cksum(seg, 0, seg.length, NXT_TCP, RAW_LL, this.h.ll);
    if (o.badCksum) ck ^= 0x1111;
    seg[16] = ck >>> 8;
    seg[17] = ck & 0xff;
    this.net.raw.send(ip6Frame({ src: RAW_LL, dst: this.h.ll, nxt: NXT_TCP, hlim: 64, payload: seg, ethDst: this.h.mac }));
  }

  /** Sends data at SND.NXT (advancing it) with ACK of RCV.NXT. */
  sendData(data: Uint8Array, extra: { flags?: number; window?: number } = {}): void {
    this.send({ data, flags: extra.flags ?? TH_ACK | TH_PSH, window: extra.window });
    this.sndNxt = u32(this.sndNxt + data.length + ((extra.flags ?? 0) & TH_FIN ? 1 : 0));
  }

  sendFin(): void {
    this.send({ flags: TH_FIN | TH_ACK });
    this.sndNxt = u32(this.sndNxt + 1);
  }

  /** Advances RCV.NXT over every in-order segment the stack sent; returns the new data bytes, concatenated. */
  absorb(segs: SegSeen[]): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const s of segs) {
      if (s.flags & TH_RST) continue;
      if (s.flags & TH_SYN) {
        this.rcvNxt = u32(s.seq + 1);
        continue;
      }
      if (s.seq === this.rcvNxt && s.segLen > 0) {
        parts.push(s.data);
        this.rcvNxt = u32(this.rcvNxt + s.segLen);
      }
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Absorbs what arrived and acknowledges it (one ACK); returns the data. */
  ackAll(window = this.window): Uint8Array {
    const d = this.absorb(this.take());
    this.send({ window });
    return d;
  }

  private synOptions(): TcpOptions {
    const o: TcpOptions = {};
    const mss = this.o.mss === undefined ? 1440 : this.o.mss;
    if (mss !== null) o.mss = mss;
    if (this.o.wscale !== undefined && this.o.wscale !== null) o.wscale = this.o.wscale;
    if (this.o.sackPermitted) o.sackPermitted = true;
    if (this.o.ts) o.ts = { val: this.tsVal, ecr: this.tsEcr };
    return o;
  }

  /** Sends our SYN to `port` on the stack (active open from the peer). */
  sendSyn(port: number, seqOverride?: number): void {
    this.remotePort = port;
    this.send({ flags: TH_SYN, seq: seqOverride ?? this.iss, ack: 0, options: this.synOptions(), noTs: true });
    this.sndNxt = u32(this.iss + 1);
  }

  /**
   * Full active open against a listener on the stack: SYN, expects SYN-ACK,
   * sends the ACK. Returns the SYN-ACK.
   */
  async connect(port: number): Promise<SegSeen> {
    this.clear();
    this.sendSyn(port);
    await pump(this.clock, 1);
    const synAck = this.take().find((s) => (s.flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK));
    if (!synAck) throw new Error('no SYN-ACK from the stack');
    this.tsOk = !!this.o.ts && synAck.options.ts !== undefined;
    if (synAck.options.ts) this.tsEcr = synAck.options.ts.val;
    this.rcvNxt = u32(synAck.seq + 1);
    this.send({});
    await pump(this.clock, 1);
    return synAck;
  }

  /**
   * Passive side of a connection the stack opens to us: waits for its SYN,
   * answers SYN-ACK (unless `answer` is false) and waits for the final ACK.
   * Returns the stack's SYN.
   */
  async accept(answer = true): Promise<SegSeen> {
    let syn: SegSeen | undefined;
    for (let i = 0; i < 50 && !syn; i++) {
      await pump(this.clock, 1);
      syn = this.take().find((s) => s.flags === TH_SYN);
    }
    if (!syn) throw new Error('no SYN from the stack');
    this.remotePort = syn.repr.sport;
    this.rcvNxt = u32(syn.seq + 1);
    if (syn.options.ts) this.tsEcr = syn.options.ts.val;
    this.tsOk = !!this.o.ts && syn.options.ts !== undefined;
    if (!answer) return syn;
    const opts = this.synOptions();
    if (!syn.options.ts) delete opts.ts;
    if (!syn.options.sackPermitted) delete opts.sackPermitted;
    if (syn.options.wscale === undefined) delete opts.wscale;
    this.send({ flags: TH_SYN | TH_ACK, seq: this.iss, options: opts, noTs: true });
    this.sndNxt = u32(this.iss + 1);
    await pump(this.clock, 1);
    return syn;
  }

  /** The stack's connection with us, if any. */
  cb(): TcpCb | undefined {
    return this.h.s.tcp.connections().find((c) => c.fport === this.port && (this.remotePort === 0 || c.lport === this.remotePort));
  }

  /** An ICMPv6 error about `quoted` (an IPv6 packet the stack sent) from the peer. */
  sendIcmpError(type: number, code: number, param: number, quoted: Uint8Array): void {
    const body = new Uint8Array(4 + Math.min(quoted.length, 1232));
    body[0] = param >>> 24;
    body[1] = (param >>> 16) & 0xff;
    body[2] = (param >>> 8) & 0xff;
    body[3] = param & 0xff;
    body.set(quoted.subarray(0, body.length - 4), 4);
    this.net.raw.send(icmpFrame(type, code, body, { src: RAW_LL, dst: this.h.ll, ethDst: this.h.mac }));
  }
}

/** The IPv6 packet (header included) of a frame the stack sent, for quoting in ICMPv6 errors. */
export function packetOf(net: Net, seg: SegSeen): Uint8Array {
  const f = net.raw.frames.find((x) => x.ip6 && tcpOf(x) && x.at === seg.at && tcpOf(x)!.seq === seg.seq && tcpOf(x)!.flags === seg.flags);
  if (!f?.ip6) throw new Error('frame not found');
  return f.ip6.packet.slice();
}

/** Collects everything a socket emits as data. */
export function collect(s: Socket): { chunks: Buffer[]; text(): string; bytes(): Buffer; length: number } {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
  return {
    chunks,
    text: () => Buffer.concat(chunks).toString(),
    bytes: () => Buffer.concat(chunks),
    get length() {
      return chunks.reduce((n, c) => n + c.length, 0);
    },
  };
}

/** Records a socket's events in order ('connect', 'end', 'close', 'error:CODE', …). */
export function events(s: Socket | import('node:events').EventEmitter, names = ['connect', 'ready', 'end', 'finish', 'close', 'timeout']): string[] {
  const out: string[] = [];
  for (const n of names) s.on(n, () => out.push(n));
  s.on('error', (e: Error & { code?: string }) => out.push(`error:${e.code}`));
  return out;
}

/** A connection from host 0 to a RawPeer, past the handshake, with the peer's view absorbed. */
export async function established(o: PeerOptions = {}, tcp: Parameters<typeof tcpNet>[0] = {}) {
  const net = tcpNet(tcp);
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h, o);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  return { net, h, peer, sock, ev, cb: peer.cb()! };
}
