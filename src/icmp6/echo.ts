/**
 * The echo request API (what ping6 uses): send an Echo Request (RFC 4443
 * §4.1) and match the reply by identifier and sequence number, with the
 * round-trip time measured on the injected clock. Outstanding requests are
 * bounded; a request that gets no reply resolves to null after its timeout.
 */
import { getU16, putU16 } from '../core/bytes.ts';
import type { Timer } from '../core/clock.ts';
import { formatIn6, in6Equal, isMulticast } from '../ip6/addr.ts';
import type { Ip6InputCtx } from '../ip6/protosw.ts';
import type { Icmp6ErrorInfo } from './ctlinput.ts';
import type { Icmp6, Icmp6Msg } from './icmp6.ts';
import { ICMP6_HDR_LEN, Icmp6Type } from './wire.ts';

/** Largest echo data accepted: jumbograms on lo0 (RFC 2675) may exceed 65,535 bytes. */
export const MAX_ECHO_DATA = 16 * 1024 * 1024;

export interface PingOptions {
  dst: Uint8Array;
  /** Zone (interface index) for a scoped destination. */
  zone?: number;
  src?: Uint8Array | null;
  /** Identifier (default: one random identifier per EchoService). */
  id?: number;
  seq: number;
  /** Data bytes after the 8-byte echo header (default 56, as ping). Ignored when `data` is given. */
  size?: number;
  data?: Uint8Array;
  hlim?: number;
  /** Outgoing interface for multicast destinations. */
  ifindex?: number;
  /** Give up after this many ms (default 1000). */
  timeoutMs?: number;
}

export interface EchoResult {
  id: number;
  seq: number;
  from: Uint8Array;
  zone: number;
  /** Round-trip time in ms on the stack's clock. */
  rttMs: number;
  /** Hop limit of the reply. */
  hlim: number;
  /** ICMPv6 message length of the reply (header + data). */
  bytes: number;
  /** True if the data came back unchanged. */
  dataOk: boolean;
}

interface Pending {
  dst: Uint8Array;
  sentAt: number;
  data: Uint8Array;
  timer: Timer;
  resolve: (r: EchoResult | null) => void;
  reject: (e: EchoError) => void;
}

export class EchoError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Set when an ICMPv6 error answered the request (ping's "From X: Destination unreachable"). */
    readonly icmp?: { type: number; code: number; from: Uint8Array; zone: number },
  ) {
    super(message);
  }
}

const UNREACH_TEXT = ['No route to destination', 'Administratively prohibited', 'Beyond scope of source address', 'Address unreachable', 'Port unreachable', 'Source address failed policy', 'Reject route to destination'];

/** errno and text of an ICMPv6 error, as ping prints them. */
function icmpErrorText(type: number, code: number, param: number): { errno: string; text: string } {
  switch (type) {
    case 1:
      return { errno: code === 0 ? 'ENETUNREACH' : code === 1 ? 'EACCES' : 'EHOSTUNREACH', text: `Destination unreachable: ${UNREACH_TEXT[code] ?? `code ${code}`}` };
    case 2:
      return { errno: 'EMSGSIZE', text: `Packet too big: mtu=${param}` };
    case 3:
      return { errno: 'EHOSTUNREACH', text: code === 0 ? 'Time exceeded: Hop limit' : 'Time exceeded: Fragment reassembly time exceeded' };
    default:
      return { errno: 'EPROTO', text: `Parameter problem: code ${code}, pointer ${param}` };
  }
}

export class EchoService {
  /** Identifier used when a request names none. */
  readonly defaultId: number;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly icmp6: Icmp6,
    readonly maxPending = 4096,
  ) {
    this.defaultId = icmp6.ip6.rng.below(0x10000);
  }

  get outstanding(): number {
    return this.pending.size;
  }

  /** Sends one Echo Request; resolves with the reply, or null on timeout. Rejects with an EchoError if it cannot be sent. */
  ping(o: PingOptions): Promise<EchoResult | null> {
    const id = (o.id ?? this.defaultId) & 0xffff;
    const seq = o.seq & 0xffff;
    const key = id * 0x10000 + seq;
    if (this.pending.has(key)) return Promise.reject(new EchoError('EBUSY', `echo id ${id} seq ${seq} is already outstanding`));
    if (this.pending.size >= this.maxPending) return Promise.reject(new EchoError('ENOBUFS', `too many outstanding echo requests (${this.maxPending})`));
    const size = o.data ? o.data.length : (o.size ?? 56);
    if (!Number.isInteger(size) || size < 0 || size > MAX_ECHO_DATA) return Promise.reject(new EchoError('EINVAL', `bad echo data size ${size} (0..${MAX_ECHO_DATA})`));
    let data = o.data;
    if (!data) {
      data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = (i + 8) & 0xff;
      if (size >= 8) this.icmp6.ip6.rng.fill(data.subarray(0, 8));
    }
    const body = new Uint8Array(4 + data.length);
    putU16(body, 0, id);
    putU16(body, 2, seq);
    body.set(data, 4);
    const clock = this.icmp6.ip6.clock;
    return new Promise((resolve, reject) => {
      const sentAt = clock.now();
      const timer = clock.timer(o.timeoutMs ?? 1000, () => {
        this.pending.delete(key);
        resolve(null);
      });
      this.pending.set(key, { dst: o.dst.slice(), sentAt, data: data!, timer, resolve, reject });
      const err = this.icmp6.send({
        type: Icmp6Type.ECHO_REQUEST,
        code: 0,
        body,
        dst: o.dst,
        zone: o.zone ?? 0,
        src: o.src ?? null,
        hlim: o.hlim,
        ifindex: o.ifindex ?? 0,
      });
      if (err) {
        timer.cancel();
        this.pending.delete(key);
        reject(new EchoError(err, `ping ${formatIn6(o.dst)}: ${describe(err)}`));
      }
    });
  }

  /** @internal An ICMPv6 error quoting one of our echo requests fails that request. */
  error(e: Icmp6ErrorInfo): void {
    const q = e.quoted;
    if (e.upperOff + 8 > q.length || q[e.upperOff] !== Icmp6Type.ECHO_REQUEST) return;
    const key = getU16(q, e.upperOff + 4) * 0x10000 + getU16(q, e.upperOff + 6);
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    p.timer.cancel();
    const { errno, text } = icmpErrorText(e.type, e.code, e.param);
    p.reject(new EchoError(errno, `From ${formatIn6(e.from)}: ${text}`, { type: e.type, code: e.code, from: e.from, zone: e.zone }));
  }

  /** @internal Echo Reply input. */
  reply(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const s = this.icmp6.stats.c;
    if (msg.len < 8) {
      s.tooShort++;
      return;
    }
    const b = ctx.b;
    const id = getU16(b, msg.off + ICMP6_HDR_LEN);
    const seq = getU16(b, msg.off + ICMP6_HDR_LEN + 2);
    const key = id * 0x10000 + seq;
    const p = this.pending.get(key);
    // The reply must come from the address we asked (any member answers a multicast request).
    if (!p || (!isMulticast(p.dst) && !in6Equal(ctx.src, 0, p.dst))) {
      s.echoUnmatched++;
      return;
    }
    this.pending.delete(key);
    p.timer.cancel();
    s.echoMatched++;
    const got = b.subarray(msg.off + 8, msg.off + msg.len);
    let dataOk = got.length === p.data.length;
    for (let i = 0; dataOk && i < got.length; i++) if (got[i] !== p.data[i]) dataOk = false;
    p.resolve({
      id,
      seq,
      from: ctx.src.slice(),
      zone: ctx.zone,
      rttMs: this.icmp6.ip6.clock.now() - p.sentAt,
      hlim: b[7]!,
      bytes: msg.len,
      dataOk,
    });
  }
}

function describe(code: string): string {
  switch (code) {
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'EADDRNOTAVAIL':
      return 'Cannot assign requested address (no usable source address)';
    case 'EMSGSIZE':
      return 'Message too long';
    case 'ENETDOWN':
      return 'Network is down';
    case 'EINVAL':
      return 'Invalid argument (a link-local destination needs a zone: fe80::1%tap0)';
    case 'ENOBUFS':
      return 'No buffer space available';
    default:
      return code;
  }
}
