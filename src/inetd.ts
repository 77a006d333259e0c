/**
 * inetd's internal services, as BSD has them, on the stack's own sockets:
 * echo (RFC 862, port 7), discard (RFC 863, port 9), daytime (RFC 867,
 * port 13) and chargen (RFC 864, port 19), over UDP. `tap6 up --services
 * echo,discard,…` starts them; their TCP versions join when TCP lands.
 *
 * Like BSD inetd, a datagram whose source port is one of these services'
 * ports is not answered, so two services (or two hosts) cannot be made to
 * ping-pong forever (the "chargen/echo loop").
 */
import { counterSet } from './core/counters.ts';
import type { Stack } from './stack.ts';
import type { Socket } from './udp/socket.ts';

export type ServiceName = 'echo' | 'discard' | 'daytime' | 'chargen';

export const SERVICE_PORTS: Readonly<Record<ServiceName, number>> = { echo: 7, discard: 9, daytime: 13, chargen: 19 };

/** Source ports never answered (BSD inetd's loop check): the internal services and time (37). */
const LOOP_PORTS = new Set([0, 7, 9, 13, 19, 37]);

/** RFC 864: the 95 printable ASCII characters, lines of 72 rotating by one. */
function chargenLine(i: number): string {
  let s = '';
  for (let k = 0; k < 72; k++) s += String.fromCharCode(32 + ((i + k) % 95));
  return `${s}\r\n`;
}

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

export class Inetd {
  readonly stats = counterSet('inetd', {
    requests: 'datagrams received by internal services',
    replies: 'datagrams answered',
    loopsRefused: 'datagrams not answered: source port of a service (loop check)',
    replyErrors: 'replies that could not be sent',
  });
  private readonly sockets = new Map<ServiceName, Socket>();
  private chargenIndex = 0;

  constructor(private readonly stack: Stack) {}

  /** Starts the named UDP services; rejects with the socket error if a port is taken. */
  async start(names: ServiceName[]): Promise<void> {
    for (const name of names) {
      if (this.sockets.has(name)) continue;
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
  }

  running(): ServiceName[] {
    return [...this.sockets.keys()];
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

  close(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
