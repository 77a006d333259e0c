/**
 * The UDP socket API, shaped like node:dgram: a port from node's dgram to
 * tap6 changes where the socket comes from, not how it is used.
 *
 *   const s = stack.dgram.createSocket('udp6');
 *   s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
 *   s.bind(7);
 *
 * Same method names, argument forms and events ('listening', 'message',
 * 'connect', 'error', 'close') as node:dgram; errors carry node's codes
 * (EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENETUNREACH, EHOSTUNREACH, EMSGSIZE,
 * ERR_SOCKET_DGRAM_NOT_RUNNING, …). Differences, on purpose:
 *  - IPv6 only: 'udp4' is refused.
 *  - Scoped addresses carry their zone in text ("fe80::1%tap0"): in rinfo
 *    too, so that replying to rinfo.address works; rinfo.scopeid is the zone
 *    index.
 *  - The receive queue is bounded by setRecvBufferSize (bytes, default
 *    212,992 as Linux's rmem_default); overflow is dropped and counted in
 *    `netstat -s -p udp` ("socket receive buffer full").
 * Delivery is asynchronous (a microtask after the stack's input finishes),
 * so application code never runs inside the protocol input path.
 */
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { formatIn6, isMulticast, isUnspecified, parseIn6 } from '../ip6/addr.ts';
import { needsZone } from '../ip6/ifaddr.ts';
import type { Icmp6ErrorInfo } from '../icmp6/ctlinput.ts';
import type { IfnetTable } from '../link/iftable.ts';
import { checkSocketPolicy } from '../ipsec/spd.ts';
import { type SocketIpsecPolicy, type Udp6, type UdpDatagram, UdpPcb } from './udp.ts';
import { UDP_MAX_PAYLOAD } from './wire.ts';

export const DEFAULT_RCVBUF = 212_992;
export const DEFAULT_SNDBUF = 212_992;
/** Buffer sizes accepted by setRecvBufferSize/setSendBufferSize. */
export const MAX_SOCKBUF = 16 * 1024 * 1024;

export interface RemoteInfo {
  address: string;
  family: 'IPv6';
  port: number;
  size: number;
  scopeid: number;
}

export interface SocketOptions {
  type: 'udp6' | 'udp4';
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Per-socket IPsec policy (KAME's IPSEC_POLICY: bypass / entrust / ipsec "esp/transport//require" …). */
  ipsecPolicy?: SocketIpsecPolicy;
}

type Callback = (err: Error | null, bytes?: number) => void;
type Chunk = string | Uint8Array | DataView;
export type SendMsg = Chunk | readonly Chunk[];

/** A node-style system error: code, errno (negative, as libuv's), syscall, address, port. */
export class SocketError extends Error {
  readonly errno: number;
  constructor(
    readonly syscall: string,
    readonly code: string,
    readonly address?: string,
    readonly port?: number,
    detail?: string,
  ) {
    super(`${syscall} ${code}${address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : ''}${detail ? ` (${detail})` : ''}`);
    this.errno = -((osConstants.errno as Record<string, number>)[code] ?? 0);
  }
}

/** node's ERR_* argument and state errors. */
export class SocketStateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code.startsWith('ERR_INVALID_ARG') || code === 'ERR_SOCKET_BAD_PORT' ? 'TypeError' : 'Error';
  }
}

interface Resolved {
  addr: Uint8Array;
  zone: number;
}

/** What the socket needs from the stack (kept small: a downward interface). */
export interface DgramHost {
  udp: Udp6;
  ifs: IfnetTable;
  joinGroup(ifindex: number, group: Uint8Array): string | null;
  leaveGroup(ifindex: number, group: Uint8Array): string | null;
  defaultMulticastIf(): number;
}

export class Socket extends EventEmitter {
  private readonly pcb: UdpPcb;
  private state: 'unbound' | 'bound' | 'closed' = 'unbound';
  private connected = false;
  private rcvbuf = DEFAULT_RCVBUF;
  private sndbuf = DEFAULT_SNDBUF;
  private queue: UdpDatagram[] = [];
  private queued = 0;
  private draining = false;

  constructor(
    private readonly host: DgramHost,
    opts: SocketOptions,
  ) {
    super();
    if (opts.type !== 'udp6') throw new SocketStateError('ERR_SOCKET_BAD_TYPE', `Bad socket type specified: tap6 is IPv6-only, use 'udp6' (got '${opts.type}')`);
    this.pcb = new UdpPcb({ deliver: (d) => this.enqueue(d), error: (e) => this.icmpError(e) });
    this.pcb.reuse = opts.reuseAddr === true;
    if (opts.ipsecPolicy) this.setIpsecPolicy(opts.ipsecPolicy);
    if (opts.recvBufferSize !== undefined) this.setRecvBufferSize(opts.recvBufferSize);
    if (opts.sendBufferSize !== undefined) this.setSendBufferSize(opts.sendBufferSize);
  }

  // ---- bind / connect --------------------------------------------------------

  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | (() => void), address?: string | (() => void), callback?: () => void): this {
    let p = 0;
    let a: string | undefined;
    let cb: (() => void) | undefined;
    if (typeof port === 'object' && port !== null) {
      p = port.port ?? 0;
      a = port.address;
      cb = typeof address === 'function' ? address : undefined;
    } else {
      if (typeof port === 'function') cb = port;
      else if (port !== undefined) p = port;
      if (typeof address === 'function') cb = address;
      else if (address !== undefined) a = address;
      if (callback) cb = callback;
    }
    this.checkRunning();
    if (this.state === 'bound') throw new SocketStateError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new SocketStateError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${String(p)}.`);
    const where = this.resolve(a ?? '::', 'bind');
    if (where instanceof Error) {
      queueMicrotask(() => this.emit('error', where));
      return this;
    }
    const e = this.host.udp.bind(this.pcb, where.addr, where.zone, p);
    if (e) {
      const err = new SocketError('bind', e, a ?? '::', p);
      queueMicrotask(() => this.emit('error', err));
      return this;
    }
    this.state = 'bound';
    if (cb) this.once('listening', cb);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  connect(port: number, address?: string | ((err?: Error) => void), callback?: (err?: Error) => void): void {
    const cb = typeof address === 'function' ? address : callback;
    const a = typeof address === 'string' ? address : '::1';
    this.checkRunning();
    if (this.connected) throw new SocketStateError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new SocketStateError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`);
    const fail = (err: Error) =>
      queueMicrotask(() => {
        if (cb) cb.call(this, err);
        else this.emit('error', err);
      });
    const to = this.resolve(a, 'connect');
    if (to instanceof Error) return fail(to);
    if (this.state === 'unbound') {
      const e = this.host.udp.bind(this.pcb, new Uint8Array(16), 0, 0);
      if (e) return fail(new SocketError('bind', e, '::', 0));
      this.state = 'bound';
      queueMicrotask(() => this.emit('listening'));
    }
    this.pcb.faddr = to.addr;
    this.pcb.fzone = to.zone;
    this.pcb.fport = port;
    this.connected = true;
    if (cb) this.once('connect', cb);
    queueMicrotask(() => this.emit('connect'));
  }

  disconnect(): void {
    this.checkRunning();
    if (!this.connected) throw new SocketStateError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.pcb.faddr = null;
    this.pcb.fport = 0;
    this.pcb.fzone = 0;
    this.connected = false;
  }

  address(): { address: string; family: 'IPv6'; port: number } {
    this.checkRunning();
    // node: getsockname on a socket not bound yet fails with EBADF.
    if (this.state !== 'bound') throw new SocketError('getsockname', 'EBADF');
    return { address: this.text(this.pcb.laddr, this.pcb.lzone), family: 'IPv6', port: this.pcb.lport };
  }

  remoteAddress(): { address: string; family: 'IPv6'; port: number } {
    this.checkRunning();
    if (!this.connected || !this.pcb.faddr) throw new SocketStateError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: this.text(this.pcb.faddr, this.pcb.fzone), family: 'IPv6', port: this.pcb.fport };
  }

  // ---- send ------------------------------------------------------------------

  send(msg: SendMsg, port?: number, address?: string, callback?: Callback): void;
  send(msg: SendMsg, port: number, callback: Callback): void;
  send(msg: SendMsg, callback?: Callback): void;
  send(msg: SendMsg, offset: number, length: number, port?: number, address?: string, callback?: Callback): void;
  send(msg: SendMsg, offset: number, length: number, callback?: Callback): void;
  send(msg: SendMsg, ...args: unknown[]): void {
    this.checkRunning();
    let cb: Callback | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as Callback;
    let data: Uint8Array;
    let rest = args;
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && !Array.isArray(msg) && (args.length >= 3 || this.connected)) {
      // send(msg, offset, length[, port][, address])
      const buf = toBytes(msg);
      const [offset, length] = args as [number, number];
      if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) throw new SocketStateError('ERR_OUT_OF_RANGE', `The value of "offset" is out of range. Received ${offset}`);
      if (!Number.isInteger(length) || length < 0 || offset + length > buf.length) throw new SocketStateError('ERR_OUT_OF_RANGE', `The value of "length" is out of range. Received ${length}`);
      data = buf.subarray(offset, offset + length);
      rest = args.slice(2);
    } else {
      data = Array.isArray(msg) ? concat(msg.map(toBytes)) : toBytes(msg);
    }
    let port = rest[0] as number | undefined;
    let address = rest[1] as string | undefined;
    if (this.connected) {
      if (port !== undefined || address !== undefined) throw new SocketStateError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    } else {
      if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) throw new SocketStateError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`);
      address ??= '::1';
    }
    const done = (err: Error | null) =>
      queueMicrotask(() => {
        if (cb) cb.call(this, err, err ? undefined : data.length);
        else if (err) this.emit('error', err);
      });
    if (data.length > UDP_MAX_PAYLOAD || data.length > this.sndbuf) return done(new SocketError('send', 'EMSGSIZE', address, port));
    let to: Resolved;
    if (this.connected) {
      to = { addr: this.pcb.faddr!, zone: this.pcb.fzone };
      port = this.pcb.fport;
    } else {
      const r = this.resolve(address!, 'send');
      if (r instanceof Error) return done(r);
      to = r;
    }
    if (this.state === 'unbound') {
      const e = this.host.udp.bind(this.pcb, new Uint8Array(16), 0, 0);
      if (e) return done(new SocketError('bind', e, '::', 0));
      this.state = 'bound';
      queueMicrotask(() => this.emit('listening'));
    }
    const e = this.host.udp.output(this.pcb, data, to.addr, to.zone, port!);
    done(e ? new SocketError('send', e, this.text(to.addr, to.zone), port) : null);
  }

  // ---- close -----------------------------------------------------------------

  close(callback?: () => void): this {
    this.checkRunning();
    if (callback) this.once('close', callback);
    this.host.udp.unbind(this.pcb);
    this.state = 'closed';
    this.queue = [];
    this.queued = 0;
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ---- options ---------------------------------------------------------------

  setMulticastInterface(iface: string): void {
    this.checkRunning();
    const idx = this.ifaceIndex(iface);
    if (idx < 0) throw new SocketError('setMulticastInterface', 'EADDRNOTAVAIL', iface);
    this.pcb.mcastIf = idx;
  }

  addMembership(group: string, iface?: string): void {
    this.checkRunning();
    const g = this.group(group, 'addMembership');
    const idx = iface !== undefined ? this.ifaceIndex(iface) : g.zone || this.pcb.mcastIf || this.host.defaultMulticastIf();
    if (idx <= 0) throw new SocketError('addMembership', 'EADDRNOTAVAIL', group, undefined, iface ? `no interface '${iface}'` : 'no interface for multicast');
    if (this.pcb.joined(g.addr, idx)) throw new SocketError('addMembership', 'EADDRINUSE', group);
    const e = this.host.joinGroup(idx, g.addr);
    if (e) throw new SocketError('addMembership', 'EINVAL', group, undefined, e);
    this.pcb.groups.push({ group: g.addr, ifindex: idx });
  }

  dropMembership(group: string, iface?: string): void {
    this.checkRunning();
    const g = this.group(group, 'dropMembership');
    const idx = iface !== undefined ? this.ifaceIndex(iface) : g.zone || this.pcb.groups.find((x) => x.group.every((v, i) => v === g.addr[i]))?.ifindex || 0;
    const i = this.pcb.groups.findIndex((x) => x.ifindex === idx && x.group.every((v, k) => v === g.addr[k]));
    if (i < 0) throw new SocketError('dropMembership', 'EADDRNOTAVAIL', group);
    this.pcb.groups.splice(i, 1);
    this.host.leaveGroup(idx, g.addr);
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.checkRunning();
    this.pcb.mcastLoop = Boolean(flag);
    return flag;
  }

  setMulticastTTL(ttl: number): number {
    this.checkRunning();
    this.pcb.mcastHops = checkHops(ttl, 'setMulticastTTL');
    return ttl;
  }

  setTTL(ttl: number): number {
    this.checkRunning();
    this.pcb.unicastHops = checkHops(ttl, 'setTTL');
    return ttl;
  }

  /** IPv6 has no broadcast; kept for API compatibility (a no-op, as it is for udp6 in practice). */
  setBroadcast(_flag: boolean): void {
    this.checkRunning();
  }

  setRecvBufferSize(size: number): void {
    this.rcvbuf = checkBuf(size, 'setRecvBufferSize');
  }

  setSendBufferSize(size: number): void {
    this.sndbuf = checkBuf(size, 'setSendBufferSize');
  }

  getRecvBufferSize(): number {
    return this.rcvbuf;
  }

  getSendBufferSize(): number {
    return this.sndbuf;
  }

  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  /** IPV6_DONTFRAG: refuse (EMSGSIZE) what would need fragmenting. */
  setDontFragment(flag: boolean): void {
    this.pcb.dontFrag = Boolean(flag);
  }

  /** Per-socket IPsec policy (KAME's IPSEC_POLICY: bypass / entrust / ipsec …). */
  setIpsecPolicy(policy: SocketIpsecPolicy): void {
    const e = checkSocketPolicy(policy);
    if (e) throw new SocketStateError('ERR_INVALID_ARG_VALUE', `The argument 'policy' is invalid: ${e}`);
    this.pcb.ipsec = policy.kind === 'ipsec' ? { kind: 'ipsec', requests: [...policy.requests] } : policy;
  }

  getIpsecPolicy(): SocketIpsecPolicy {
    return this.pcb.ipsec;
  }

  // ---- internals -------------------------------------------------------------

  private enqueue(d: UdpDatagram): boolean {
    if (this.state === 'closed' || this.queued + d.data.length > this.rcvbuf) return false;
    this.queue.push(d);
    this.queued += d.data.length;
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => this.drain());
    }
    return true;
  }

  private drain(): void {
    this.draining = false;
    const q = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const d of q) {
      if (this.state === 'closed') return;
      const rinfo: RemoteInfo = { address: this.text(d.src, d.zone), family: 'IPv6', port: d.sport, size: d.data.length, scopeid: needsZone(d.src) ? d.zone : 0 };
      this.emit('message', Buffer.from(d.data.buffer, d.data.byteOffset, d.data.length), rinfo);
    }
  }

  private icmpError(e: Icmp6ErrorInfo): void {
    // Like a connected BSD/Linux socket: only a connected socket hears of errors (RFC 1122 §4.1.3.3 spirit).
    if (!this.connected) return;
    const code = e.type === 1 ? (e.code === 4 ? 'ECONNREFUSED' : e.code === 0 ? 'ENETUNREACH' : e.code === 1 ? 'EACCES' : 'EHOSTUNREACH') : e.type === 2 ? 'EMSGSIZE' : e.type === 3 ? 'EHOSTUNREACH' : 'EPROTO';
    const err = new SocketError('recv', code, this.text(e.dst, e.zone), this.pcb.fport);
    queueMicrotask(() => this.emit('error', err));
  }

  private checkRunning(): void {
    if (this.state === 'closed') throw new SocketStateError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  private text(addr: Uint8Array, zone: number): string {
    const t = formatIn6(addr);
    if (!zone || !needsZone(addr)) return t;
    return `${t}%${this.host.ifs.get(zone)?.name ?? zone}`;
  }

  private resolve(text: string, syscall: string): Resolved | SocketError {
    if (typeof text !== 'string') return new SocketError(syscall, 'EINVAL', String(text));
    const t = text === 'localhost' ? '::1' : text;
    const r = parseIn6(t);
    if (!r.ok) return new SocketError(syscall, 'EINVAL', text, undefined, r.error);
    let zone = 0;
    if (r.value.zone !== null) {
      const ifp = this.host.ifs.lookup(r.value.zone);
      if (!ifp) return new SocketError(syscall, 'EINVAL', text, undefined, `no such interface '${r.value.zone}'`);
      zone = ifp.index;
    } else if (needsZone(r.value.addr) && !(isMulticast(r.value.addr) && this.pcb.mcastIf)) {
      return new SocketError(syscall, 'EINVAL', text, undefined, 'a link-local address needs a zone, e.g. fe80::1%tap0');
    }
    return { addr: r.value.addr, zone };
  }

  private group(text: string, syscall: string): Resolved {
    const r = this.resolve(text, syscall);
    if (r instanceof Error) {
      // A link-scope group without a zone is fine here: the interface argument names it.
      const p = parseIn6(text);
      if (p.ok && isMulticast(p.value.addr)) return { addr: p.value.addr, zone: 0 };
      throw r;
    }
    if (!isMulticast(r.addr)) throw new SocketError(syscall, 'EINVAL', text, undefined, 'not a multicast address');
    return r;
  }

  /** An interface given as a name, an index, "%name", "::%name" or one of our addresses. */
  private ifaceIndex(iface: string): number {
    const s = iface.trim();
    const pct = s.indexOf('%');
    if (pct >= 0) return this.host.ifs.lookup(s.slice(pct + 1))?.index ?? -1;
    const byName = this.host.ifs.lookup(s);
    if (byName) return byName.index;
    const r = parseIn6(s);
    if (r.ok && !isUnspecified(r.value.addr)) {
      const ia = this.host.udp.ip6.findAddr(r.value.addr, 0);
      if (ia) return ia.ifp.index;
    }
    return -1;
  }
}

function toBytes(m: unknown): Uint8Array {
  if (typeof m === 'string') return Buffer.from(m);
  if (m instanceof Uint8Array) return m;
  if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  throw new SocketStateError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function checkHops(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new SocketError(what, 'EINVAL', undefined, undefined, `hop limit must be 0..255, got ${v}`);
  return v;
}

function checkBuf(v: number, what: string): number {
  if (!Number.isInteger(v) || v <= 0 || v > MAX_SOCKBUF) throw new SocketStateError('ERR_SOCKET_BUFFER_SIZE', `${what}: buffer size must be a positive integer up to ${MAX_SOCKBUF}, got ${v}`);
  return v;
}

/** node:dgram's createSocket, for this stack. */
export function createSocket(host: DgramHost, type: 'udp6' | 'udp4' | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  const s = new Socket(host, typeof type === 'string' ? { type } : type);
  if (listener) s.on('message', listener);
  return s;
}
