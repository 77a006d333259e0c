/**
 * The TCP socket API, shaped like node:net: `createServer`, `connect` /
 * `createConnection`, a `Server` with listen/close/address and
 * 'connection'/'listening'/'close'/'error', and a `Socket` that is a real
 * stream.Duplex with backpressure both ways:
 *  - writing: data goes into the connection's send buffer (SO_SNDBUF); when
 *    it is full, the write callback waits until acknowledged data frees room;
 *  - reading: received data is pushed to the stream; while the application
 *    does not read, the bytes still count against the receive window, which
 *    closes, and the peer stops sending.
 * node:http runs on it: `http.createServer(handler)` and
 * `tcpServer.on('connection', (s) => httpServer.emit('connection', s))`, and
 * a client request with `http.request({ createConnection: () => stack.net.connect(…) })`.
 * Errors carry node's codes (ECONNREFUSED, ECONNRESET, ETIMEDOUT,
 * EADDRINUSE, EADDRNOTAVAIL, EPIPE, …).
 */
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { Duplex } from 'node:stream';
import type { Clock, Timer } from '../core/clock.ts';
import { formatIn6, isUnspecified, parseIn6 } from '../ip6/addr.ts';
import { needsZone } from '../ip6/ifaddr.ts';
import type { IfnetTable } from '../link/iftable.ts';
import type { Ip6SocketPolicy } from '../ip6/security.ts';
import { checkSocketPolicy } from '../ipsec/spd.ts';
import type { Tcp6, TcpListener } from './tcp.ts';
import type { TcpCb } from './tcpcb.ts';

export interface NetHost {
  tcp: Tcp6;
  ifs: IfnetTable;
  clock: Clock;
}

export class NetError extends Error {
  readonly errno: number;
  constructor(
    readonly syscall: string,
    readonly code: string,
    readonly address?: string,
    readonly port?: number,
  ) {
    super(`${syscall} ${code}${address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : ''}`);
    this.errno = -((osConstants.errno as Record<string, number>)[code] ?? 0);
  }
}

function resolveAddr(host: NetHost, text: string | undefined, fallback: string): { addr: Uint8Array; zone: number } | string {
  const t = text === undefined || text === '' ? fallback : text === 'localhost' ? '::1' : text;
  const r = parseIn6(t);
  if (!r.ok) return r.error;
  let zone = 0;
  if (r.value.zone !== null) {
    const ifp = host.ifs.lookup(r.value.zone);
    if (!ifp) return `no such interface '${r.value.zone}'`;
    zone = ifp.index;
  } else if (needsZone(r.value.addr)) return `${t}: a link-local address needs a zone, e.g. fe80::1%tap0`;
  return { addr: r.value.addr, zone };
}

function text(host: NetHost, addr: Uint8Array, zone: number): string {
  const t = formatIn6(addr);
  return zone && needsZone(addr) ? `${t}%${host.ifs.get(zone)?.name ?? zone}` : t;
}

export interface ConnectOptions {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  /** Per-socket IPsec policy (KAME's IPSEC_POLICY): bypass / entrust / ipsec "esp/transport//require" …, from the SYN on. */
  ipsecPolicy?: Ip6SocketPolicy;
}

/** Validates a socket IPsec policy as node validates options (ERR_INVALID_ARG_VALUE). */
function checkPolicy(p: Ip6SocketPolicy): Ip6SocketPolicy {
  const e = checkSocketPolicy(p);
  if (e) throw Object.assign(new TypeError(`The argument 'ipsecPolicy' is invalid: ${e}`), { code: 'ERR_INVALID_ARG_VALUE' });
  return p.kind === 'ipsec' ? { kind: 'ipsec', requests: [...p.requests] } : p;
}

export class Socket extends Duplex {
  private cb: TcpCb | null = null;
  private readonly host: NetHost;
  connecting = false;
  private pendingWrite: { data: Uint8Array; callback: (err?: Error | null) => void } | null = null;
  private readPaused = false;
  private held: Uint8Array[] = [];
  private idleMs = 0;
  private idleTimer: Timer | null = null;
  bytesRead = 0;
  private written = 0;
  private gotEof = false;

  constructor(host: NetHost, opts: { allowHalfOpen?: boolean } = {}) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? false, emitClose: true });
    this.host = host;
  }

  /** @internal Wraps an accepted or connecting connection. */
  attach(cb: TcpCb): void {
    this.cb = cb;
    cb.owner = {
      connected: () => {
        this.connecting = false;
        this.touch();
        this.emit('connect');
        this.emit('ready');
      },
      data: (chunk) => {
        this.touch();
        this.bytesRead += chunk.length;
        if (this.readPaused || this.held.length > 0) {
          this.held.push(chunk);
          return;
        }
        if (!this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) this.readPaused = true;
        this.reconcile();
      },
      eof: () => {
        this.gotEof = true;
        if (this.held.length === 0) this.endReadable();
      },
      writable: () => this.flushPending(),
      error: (code) => {
        // After the peer's FIN nothing is read any more: a reset then shows at the next write, as EPIPE
        // (Linux reports a reset in CLOSE_WAIT so, and node surfaces it from the write).
        if (code === 'ECONNRESET' && this.gotEof && !this.writableEnded) return;
        this.destroy(new NetError(this.connecting ? 'connect' : 'read', code, this.remoteAddress, this.remotePort));
      },
      closed: () => {
        if (!this.destroyed && this.writableFinished && (this.readableEnded || this.gotEof)) this.destroy();
      },
    };
  }

  get remoteAddress(): string | undefined {
    return this.cb ? text(this.host, this.cb.faddr, this.cb.zone) : undefined;
  }

  get remotePort(): number | undefined {
    return this.cb?.fport;
  }

  get remoteFamily(): string | undefined {
    return this.cb ? 'IPv6' : undefined;
  }

  get localAddress(): string | undefined {
    return this.cb ? text(this.host, this.cb.laddr, this.cb.zone) : undefined;
  }

  get localPort(): number | undefined {
    return this.cb?.lport;
  }

  get bytesWritten(): number {
    return this.written;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The TCP state (for netstat and tests). */
  get tcpState(): string {
    return this.cb?.state ?? 'CLOSED';
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (!this.cb) return {};
    return { address: this.localAddress!, family: 'IPv6', port: this.cb.lport };
  }

  connect(opts: ConnectOptions | number, hostOrCb?: string | (() => void), cb?: () => void): this {
    const o: ConnectOptions = typeof opts === 'number' ? { port: opts, host: typeof hostOrCb === 'string' ? hostOrCb : undefined } : opts;
    const listener = typeof hostOrCb === 'function' ? hostOrCb : cb;
    if (listener) this.once('connect', listener);
    if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${String(o.port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    const dst = resolveAddr(this.host, o.host, '::1');
    const src = o.localAddress !== undefined ? resolveAddr(this.host, o.localAddress, '::') : null;
    const fail = (code: string) => queueMicrotask(() => this.destroy(new NetError('connect', code, o.host ?? '::1', o.port)));
    if (typeof dst === 'string' || typeof src === 'string') {
      fail('EINVAL');
      return this;
    }
    this.connecting = true;
    const ipsec = o.ipsecPolicy ? checkPolicy(o.ipsecPolicy) : undefined;
    const r = this.host.tcp.connect({ dst: dst.addr, zone: dst.zone, port: o.port, src: src?.addr ?? null, srcPort: o.localPort ?? 0, ...(ipsec ? { ipsec } : {}) });
    if (typeof r === 'string') {
      fail(r);
      return this;
    }
    this.attach(r);
    if (o.noDelay) this.setNoDelay(true);
    if (o.keepAlive) this.setKeepAlive(true, o.keepAliveInitialDelay);
    if (o.timeout) this.setTimeout(o.timeout);
    return this;
  }

  setNoDelay(noDelay = true): this {
    if (this.cb) this.cb.noDelay = noDelay;
    return this;
  }

  /** Per-socket IPsec policy of a connected socket (before connecting: ConnectOptions.ipsecPolicy). */
  setIpsecPolicy(policy: Ip6SocketPolicy): this {
    const p = checkPolicy(policy);
    if (this.cb) this.host.tcp.setIpsecPolicy(this.cb, p);
    return this;
  }

  getIpsecPolicy(): Ip6SocketPolicy {
    return (this.cb && this.host.tcp.ipsecPolicyOf(this.cb)) ?? { kind: 'default' };
  }

  setKeepAlive(enable = false, initialDelay?: number): this {
    this.cb?.setKeepAlive(enable, initialDelay && initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /** Idle timeout ('timeout' event; the socket is not closed), as net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    this.idleMs = ms;
    this.idleTimer?.cancel();
    this.idleTimer = null;
    if (ms > 0) this.touch();
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  private touch(): void {
    if (this.idleMs <= 0) return;
    this.idleTimer?.cancel();
    this.idleTimer = this.host.clock.timer(this.idleMs, () => {
      this.idleTimer = null;
      this.emit('timeout');
    });
  }

  override _read(): void {
    this.readPaused = false;
    let n = 0;
    while (this.held.length > 0) {
      const c = this.held.shift()!;
      n += c.length;
      if (!this.push(Buffer.from(c.buffer, c.byteOffset, c.length))) {
        this.readPaused = true;
        break;
      }
    }
    if (this.held.length === 0 && this.gotEof) this.endReadable();
    this.reconcile();
    void n;
  }

  /**
   * Every way of reading (flowing mode, 'readable' + read(), async iteration)
   * goes through read(); only after it has taken bytes out of the stream's
   * buffer can they count as consumed. (_read runs before that, and not at
   * all while the stream waits for a push, so it alone leaves the window shut.)
   */
  override read(size?: number): any {
    const chunk: unknown = super.read(size);
    this.reconcile();
    return chunk;
  }

  /** Bytes that left our hold queue and the stream's buffer were read: tell the connection (the window opens). */
  private reconcile(): void {
    const cb = this.cb;
    if (!cb) return;
    const n = cb.rcvQueued - this.heldBytes() - this.readableLength;
    if (n > 0) cb.consumed(n);
  }

  private heldBytes(): number {
    let n = 0;
    for (const c of this.held) n += c.length;
    return n;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const cb = this.cb;
    if (!cb || cb.state === 'CLOSED') {
      callback(new NetError('write', 'EPIPE'));
      return;
    }
    this.touch();
    const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const n = cb.write(data);
    this.written += n;
    if (n === data.length) {
      callback();
      return;
    }
    this.pendingWrite = { data: data.subarray(n), callback };
  }

  private flushPending(): void {
    const p = this.pendingWrite;
    const cb = this.cb;
    if (!p || !cb) return;
    const n = cb.write(p.data);
    this.written += n;
    if (n === p.data.length) {
      this.pendingWrite = null;
      p.callback();
    } else p.data = p.data.subarray(n);
  }

  /** The peer's FIN: end of the readable side. As node's net does, read(0) lets "end" fire even when nobody reads. */
  private endReadable(): void {
    this.push(null);
    if (this.readableLength === 0) this.read(0);
  }

  override _final(callback: (err?: Error | null) => void): void {
    // end() while connecting (connect().end(data)): the FIN follows the handshake, as in node. A shutdown
    // in SYN_SENT would delete the connection (RFC 9293 §3.10.4).
    if (this.connecting) {
      this.once('connect', () => this._final(callback));
      return;
    }
    const finish = () => {
      this.cb?.shutdown();
      callback();
    };
    if (this.pendingWrite) {
      const p = this.pendingWrite;
      this.pendingWrite = { data: p.data, callback: (e) => (p.callback(e), e ? callback(e) : finish()) };
    } else finish();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.idleTimer?.cancel();
    const cb = this.cb;
    if (cb && cb.state !== 'CLOSED') {
      // As close(2) under node's destroy(): what the connection already took is still sent, then the FIN.
      // An error, or received data never read, aborts with RST (RFC 9293 §3.10.5, RFC 2525 §2.17).
      if (err || this.held.length > 0) cb.abort();
      else {
        cb.shutdown();
        cb.detach();
      }
    }
    if (this.pendingWrite) {
      this.pendingWrite.callback(err ?? new NetError('write', 'EPIPE'));
      this.pendingWrite = null;
    }
    callback(err);
  }

  /** Half-close like net.Socket.end(), then full close once both sides finished. */
  resetAndDestroy(): this {
    this.cb?.abort();
    this.destroy();
    return this;
  }
}

export class Server extends EventEmitter {
  private l: TcpListener | null = null;
  private readonly sockets = new Set<Socket>();
  maxConnections = Infinity;

  constructor(
    private readonly host: NetHost,
    private readonly opts: { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; ipsecPolicy?: Ip6SocketPolicy } = {},
    listener?: (s: Socket) => void,
  ) {
    super();
    if (listener) this.on('connection', listener);
  }

  get listening(): boolean {
    return this.l !== null;
  }

  listen(port?: number | { port?: number; host?: string; backlog?: number }, hostOrCb?: string | number | (() => void), backlogOrCb?: number | (() => void), cb?: () => void): this {
    let p = 0;
    let h: string | undefined;
    let backlog = 511;
    let done: (() => void) | undefined;
    if (typeof port === 'object' && port !== null) {
      p = port.port ?? 0;
      h = port.host;
      backlog = port.backlog ?? 511;
      if (typeof hostOrCb === 'function') done = hostOrCb;
    } else {
      p = port ?? 0;
      for (const a of [hostOrCb, backlogOrCb, cb]) {
        if (typeof a === 'function') done = a;
        else if (typeof a === 'string') h = a;
        else if (typeof a === 'number') backlog = a;
      }
    }
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(p)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    if (done) this.once('listening', done);
    if (this.l) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const where = resolveAddr(this.host, h, '::');
    if (typeof where === 'string') {
      queueMicrotask(() => this.emit('error', new NetError('listen', 'EINVAL', h, p)));
      return this;
    }
    const r = this.host.tcp.listen(where.addr, where.zone, p, backlog, { connection: (c) => this.accept(c) });
    if (typeof r === 'string') {
      queueMicrotask(() => this.emit('error', new NetError('listen', r, h ?? '::', p)));
      return this;
    }
    this.l = r;
    if (this.opts.ipsecPolicy) this.host.tcp.setIpsecPolicy(r, checkPolicy(this.opts.ipsecPolicy));
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  private accept(cb: TcpCb): void {
    if (this.sockets.size >= this.maxConnections) {
      cb.abort();
      return;
    }
    const s = new Socket(this.host, { allowHalfOpen: this.opts.allowHalfOpen ?? false });
    s.attach(cb);
    if (this.opts.noDelay) s.setNoDelay(true);
    if (this.opts.keepAlive) s.setKeepAlive(true);
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      this.maybeClosed();
    });
    this.emit('connection', s);
  }

  address(): { address: string; family: string; port: number } | null {
    if (!this.l) return null;
    return { address: isUnspecified(this.l.laddr) ? '::' : text(this.host, this.l.laddr, this.l.lzone), family: 'IPv6', port: this.l.lport };
  }

  private closeCb: ((err?: Error) => void) | null = null;

  close(cb?: (err?: Error) => void): this {
    if (!this.l) {
      if (cb) queueMicrotask(() => cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })));
      return this;
    }
    this.host.tcp.unlisten(this.l);
    this.l = null;
    if (cb) this.closeCb = cb;
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.l || this.sockets.size > 0) return;
    const cb = this.closeCb;
    this.closeCb = null;
    queueMicrotask(() => {
      cb?.();
      this.emit('close');
    });
  }

  getConnections(cb: (err: Error | null, n: number) => void): this {
    queueMicrotask(() => cb(null, this.sockets.size));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** node:net's API for this stack. */
export function netApi(host: NetHost) {
  const createConnection = (opts: ConnectOptions | number, hostOrCb?: string | (() => void), cb?: () => void): Socket =>
    new Socket(host, {}).connect(opts, hostOrCb, cb);
  return {
    createServer: (optsOrListener?: { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; ipsecPolicy?: Ip6SocketPolicy } | ((s: Socket) => void), listener?: (s: Socket) => void): Server =>
      typeof optsOrListener === 'function' ? new Server(host, {}, optsOrListener) : new Server(host, optsOrListener ?? {}, listener),
    connect: createConnection,
    createConnection,
    Socket: class extends Socket {
      constructor(opts: { allowHalfOpen?: boolean } = {}) {
        super(host, opts);
      }
    },
  };
}
