/**
 * inetd's internal services, as BSD has them, on the stack's own sockets:
 * echo (RFC 862, port 7), discard (RFC 863, port 9), daytime (RFC 867,
 * port 13) and chargen (RFC 864, port 19), each over UDP and TCP.
 * `tap6 up --services echo,discard,…` starts both.
 *
 * Over UDP every datagram is one request. Like BSD inetd, a datagram whose
 * source port is one of these services' ports is not answered, so two
 * services (or two hosts) cannot be made to ping-pong forever (the
 * "chargen/echo loop"); TCP needs no such check, a connection has one
 * client.
 *
 * Over TCP (one connection, one client):
 *  - echo sends back what it reads until the client closes its side, then
 *    closes; it reads only as fast as the client takes the echo (a client
 *    that does not read stops being read: the window closes);
 *  - discard reads and drops until the client closes;
 *  - daytime sends its line and closes;
 *  - chargen sends the rotating lines for as long as the client keeps the
 *    connection, at the pace the client reads (it waits for 'drain'), and
 *    stops when the client closes or resets.
 * Each service holds at most `maxConnections` connections (more are
 * reset and counted), and an error on a connection (a reset, a timeout)
 * ends that connection only, counted.
 */
import { counterSet } from './core/counters.ts';
import type { Stack } from './stack.ts';
import type { Server as TcpServer, Socket as TcpSocket } from './tcp/socket.ts';
import type { Socket } from './udp/socket.ts';

export type ServiceName = 'echo' | 'discard' | 'daytime' | 'chargen';
export type ServiceProto = 'udp' | 'tcp';

export const SERVICE_PORTS: Readonly<Record<ServiceName, number>> = { echo: 7, discard: 9, daytime: 13, chargen: 19 };

/** Source ports never answered (BSD inetd's loop check): the internal services and time (37). */
const LOOP_PORTS = new Set([0, 7, 9, 13, 19, 37]);

/** RFC 864: the 95 printable ASCII characters, lines of 72 rotating by one. */
function chargenLine(i: number): string {
  let s = '';
  for (let k = 0; k < 72; k++) s += String.fromCharCode(32 + ((i + k) % 95));
  return `${s}\r\n`;
}

/** One whole period of the pattern (95 lines, 7,030 bytes): sent back to back, the rotation carries on across writes. */
let chargenCycle: Buffer | null = null;
function chargenPeriod(): Buffer {
  if (!chargenCycle) {
    let s = '';
    for (let i = 0; i < 95; i++) s += chargenLine(i);
    chargenCycle = Buffer.from(s, 'latin1');
  }
  return chargenCycle;
}

/** Chargen writes at most this many periods per turn of the event loop, even while the socket takes them. */
const CHARGEN_BURST = 64;

/** ctime(3) style, as BSD's daytime: "Sun Nov 22 23:30:00 2026\r\n" (UTC). */
export function daytimeString(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}\r\n`;
}

export function parseServices(text: string): ServiceName[] {
  const out: ServiceName[] = [];
  for (const raw of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(raw in SERVICE_PORTS)) throw new Error(`unknown service '${raw}': one of ${Object.keys(SERVICE_PORTS).join(', ')}`);
    if (!out.includes(raw as ServiceName)) out.push(raw as ServiceName);
  }
  return out;
}

export interface InetdOptions {
  /** Transports to serve each service on (default both). */
  protocols?: readonly ServiceProto[];
  /** TCP connections open at once per service (default 32); more are reset and counted (every table is bounded). */
  maxConnections?: number;
  /** A TCP connection with nothing sent or received for this long is reset (default 5 minutes; 0: never). */
  idleTimeoutMs?: number;
}

export class Inetd {
  readonly stats = counterSet('inetd', {
    requests: 'UDP datagrams received by internal services',
    replies: 'UDP datagrams answered',
    loopsRefused: 'UDP datagrams not answered: source port of a service (loop check)',
    replyErrors: 'UDP replies that could not be sent',
    connections: 'TCP connections accepted',
    connDropped: 'TCP connections reset: too many open for the service',
    connErrors: 'TCP connections ended by an error (reset by the client, retransmission timeout)',
    connIdle: 'TCP connections reset after idling',
    bytesIn: 'bytes received on TCP connections',
    bytesOut: 'bytes written on TCP connections',
  });
  private readonly sockets = new Map<ServiceName, Socket>();
  private readonly servers = new Map<ServiceName, TcpServer>();
  private readonly conns = new Map<ServiceName, Set<TcpSocket>>();
  private chargenIndex = 0;
  private readonly protocols: readonly ServiceProto[];
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly stack: Stack,
    opts: InetdOptions = {},
  ) {
    this.protocols = opts.protocols ?? ['udp', 'tcp'];
    this.maxConnections = opts.maxConnections ?? 32;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
  }

  /**
   * Starts the named services on UDP and TCP (as configured); rejects with
   * the socket error (EADDRINUSE, …) if a port is taken, leaving that
   * service closed.
   */
  async start(names: ServiceName[]): Promise<void> {
    for (const name of names) {
      if (this.sockets.has(name) || this.servers.has(name)) continue;
      try {
        if (this.protocols.includes('udp')) await this.startUdp(name);
        if (this.protocols.includes('tcp')) await this.startTcp(name);
      } catch (e) {
        this.stop(name);
        throw e;
      }
    }
  }

  private async startUdp(name: ServiceName): Promise<void> {
    const s = this.stack.dgram.createSocket('udp6');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(SERVICE_PORTS[name], () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => this.stats.c.replyErrors++);
    s.on('message', (msg, rinfo) => this.serve(name, s, msg, rinfo.port, rinfo.address));
    this.sockets.set(name, s);
  }

  private async startTcp(name: ServiceName): Promise<void> {
    const conns = new Set<TcpSocket>();
    // Half-open allowed: each service decides when to close its side (echo drains first).
    const server = this.stack.net.createServer({ allowHalfOpen: true }, (s) => this.accept(name, conns, s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(SERVICE_PORTS[name], () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => this.stats.c.connErrors++);
    this.servers.set(name, server);
    this.conns.set(name, conns);
  }

  /** The services running, with their transports: `echo/udp`, `echo/tcp`, … */
  endpoints(): { name: ServiceName; proto: ServiceProto; port: number }[] {
    const out: { name: ServiceName; proto: ServiceProto; port: number }[] = [];
    for (const name of Object.keys(SERVICE_PORTS) as ServiceName[]) {
      if (this.sockets.has(name)) out.push({ name, proto: 'udp', port: SERVICE_PORTS[name] });
      if (this.servers.has(name)) out.push({ name, proto: 'tcp', port: SERVICE_PORTS[name] });
    }
    return out;
  }

  running(): ServiceName[] {
    return [...new Set([...this.sockets.keys(), ...this.servers.keys()])];
  }

  /** TCP connections open now, per service. */
  openConnections(name: ServiceName): number {
    return this.conns.get(name)?.size ?? 0;
  }

  private serve(name: ServiceName, s: Socket, msg: Buffer, port: number, address: string): void {
    const c = this.stats.c;
    c.requests++;
    if (name === 'discard') return;
    if (LOOP_PORTS.has(port)) {
      c.loopsRefused++;
      return;
    }
    let reply: Uint8Array;
    if (name === 'echo') reply = msg;
    else if (name === 'daytime') reply = Buffer.from(daytimeString(this.stack.clock.wallMs()));
    else {
      // RFC 864 (UDP): a random number, 0 to 512, of characters.
      const n = this.stack.rng.below(513);
      let text = '';
      while (text.length < n) text += chargenLine(this.chargenIndex++);
      reply = Buffer.from(text.slice(0, n));
    }
    s.send(reply, port, address, (err) => {
      if (err) c.replyErrors++;
      else c.replies++;
    });
  }

  // ---- TCP ---------------------------------------------------------------------

  private accept(name: ServiceName, conns: Set<TcpSocket>, s: TcpSocket): void {
    const c = this.stats.c;
    // Listeners first: whatever happens next, an error ends this connection only.
    s.on('error', () => c.connErrors++);
    if (conns.size >= this.maxConnections) {
      c.connDropped++;
      s.resetAndDestroy();
      return;
    }
    c.connections++;
    conns.add(s);
    s.once('close', () => conns.delete(s));
    if (this.idleTimeoutMs > 0) {
      s.setTimeout(this.idleTimeoutMs, () => {
        c.connIdle++;
        s.resetAndDestroy();
      });
    }
    const write = (chunk: Uint8Array): boolean => {
      c.bytesOut += chunk.length;
      return s.write(chunk);
    };
    switch (name) {
      case 'echo':
        // RFC 862: what arrives goes back; the client's FIN ends the echo after the last byte.
        s.on('data', (d: Buffer) => {
          c.bytesIn += d.length;
          if (!write(d)) s.pause();
        });
        s.on('drain', () => s.resume());
        s.on('end', () => s.end());
        break;
      case 'discard':
        // RFC 863: read and drop until the client closes.
        s.on('data', (d: Buffer) => (c.bytesIn += d.length));
        s.on('end', () => s.end());
        break;
      case 'daytime':
        // RFC 867: the line, then close; anything the client sends is ignored.
        s.on('data', (d: Buffer) => (c.bytesIn += d.length));
        write(Buffer.from(daytimeString(this.stack.clock.wallMs()), 'latin1'));
        s.end();
        break;
      case 'chargen':
        this.chargen(s);
        break;
    }
  }

  /** RFC 864 (TCP): lines until the client closes; data from the client is thrown away. */
  private chargen(s: TcpSocket): void {
    const c = this.stats.c;
    const period = chargenPeriod();
    let stopped = false;
    const pump = (): void => {
      for (let i = 0; i < CHARGEN_BURST; i++) {
        if (stopped || s.destroyed || s.writableEnded) return;
        c.bytesOut += period.length;
        if (!s.write(period)) {
          s.once('drain', pump);
          return;
        }
      }
      // The socket took a whole burst without pushing back: yield before the next one.
      this.stack.clock.timer(0, pump);
    };
    s.on('data', (d: Buffer) => (c.bytesIn += d.length));
    s.on('end', () => {
      stopped = true;
      s.end();
    });
    s.once('close', () => (stopped = true));
    pump();
  }

  private stop(name: ServiceName): void {
    this.sockets.get(name)?.close();
    this.sockets.delete(name);
    this.servers.get(name)?.close();
    this.servers.delete(name);
    for (const s of this.conns.get(name) ?? []) s.resetAndDestroy();
    this.conns.delete(name);
  }

  /** Stops every service: the ports are freed and open TCP connections reset. */
  close(): void {
    for (const name of this.running()) this.stop(name);
  }
}
