/**
 * `tap6 up --http PORT`: a small status page served over the stack's own
 * TCP by node:http. The tap6 listener hands each accepted connection to an
 * http.Server that never listens itself:
 *
 *     tcpServer.on('connection', (s) => httpServer.emit('connection', s))
 *
 *   GET /       an HTML page: interfaces and addresses, neighbors, routes,
 *               sockets and the non-zero counters (every value escaped)
 *   GET /json   the same data as JSON (the shapes of the tools' --json)
 *   HEAD        as GET, without the body
 *   other paths 404; other methods 405 (Allow: GET, HEAD)
 *
 * It is bounded: at most `maxConnections` connections (more are reset); a
 * request body of at most `maxBodyBytes` (a larger Content-Length is
 * answered 413 and the connection closed, reset if the client is still
 * sending a second later; a chunked body that grows past it is reset), headers of at most 8 KiB (node's 431), and an idle connection is
 * closed after `idleTimeoutMs`.
 */
import http from 'node:http';
import type { Stack } from '../src/stack.ts';
import type { Server as TcpServer, Socket as TcpSocket } from '../src/tcp/socket.ts';
import {
  type CounterJson,
  type IfInfo,
  type NeighborJson,
  type RouteJson,
  type SocketRow,
  ifconfig,
  ndp,
  netstat,
  route,
  sockets,
} from './handlers.ts';

export interface StatusJson {
  /** Wall-clock time of the snapshot, ISO 8601. */
  time: string;
  interfaces: IfInfo[];
  neighbors: NeighborJson[];
  routes: RouteJson[];
  sockets: SocketRow[];
  /** Every counter set with every counter (the HTML page shows the non-zero ones). */
  counters: { name: string; counters: CounterJson[] }[];
}

/** A snapshot of the stack for the page. */
export function statusData(stack: Stack): StatusJson {
  return {
    time: new Date(stack.clock.wallMs()).toISOString(),
    interfaces: ifconfig(stack).interfaces,
    neighbors: ndp(stack).neighbors,
    routes: route(stack).routes,
    sockets: sockets(stack).sockets,
    counters: netstat(stack).sets.map((s) => ({ name: s.name, counters: s.counters })),
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

function htmlTable(headers: string[], rows: (string | number | null)[][]): string {
  if (rows.length === 0) return '<p>(none)</p>';
  const th = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c === null ? '' : String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<tr>${th}</tr>\n${trs}\n</table>`;
}

/** The HTML page for a snapshot; every piece of data goes through escapeHtml. */
export function renderStatusHtml(s: StatusJson): string {
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><title>tap6 status</title>',
    '<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;font-family:monospace}</style>',
    '</head><body>',
    '<h1>tap6</h1>',
    `<p>Snapshot at ${escapeHtml(s.time)}; <a href="json">as JSON</a>.</p>`,
    '<h2>Interfaces</h2>',
  ];
  for (const i of s.interfaces) {
    parts.push(
      `<h3>${escapeHtml(i.name)}</h3>`,
      `<p>index ${i.index}, ${escapeHtml(i.type)}, mtu ${i.mtu}, flags ${escapeHtml(i.flagNames.join(','))}${i.ether ? `, ether ${escapeHtml(i.ether)}` : ''}</p>`,
      htmlTable(
        ['Address', 'Prefix length', 'Flags', 'Preferred (s)', 'Valid (s)'],
        i.addrs.map((a) => [a.text, a.plen, a.flagNames.join(' '), a.pltime ?? 'infinity', a.vltime ?? 'infinity']),
      ),
    );
  }
  parts.push(
    '<h2>Neighbors</h2>',
    htmlTable(
      ['Neighbor', 'Link-layer address', 'Interface', 'State', 'Router', 'Expire (s)'],
      s.neighbors.map((n) => [n.text, n.lladdr ?? '(incomplete)', n.ifname, n.state, n.isRouter ? 'yes' : '', n.expire]),
    ),
    '<h2>Routes</h2>',
    htmlTable(
      ['Destination', 'Gateway', 'Flags', 'Interface', 'Expire (s)'],
      s.routes.map((r) => [r.destination, r.gateway, r.flagNames, r.netif, r.expire]),
    ),
    '<h2>Sockets</h2>',
    htmlTable(
      ['Proto', 'Recv-Q', 'Send-Q', 'Local Address', 'Foreign Address', 'State'],
      s.sockets.map((x) => [x.proto, x.recvQ, x.sendQ, x.local, x.foreign, x.state]),
    ),
    '<h2>Counters</h2>',
  );
  for (const set of s.counters) {
    const nonZero = set.counters.filter((c) => c.value !== 0);
    if (nonZero.length === 0) continue;
    parts.push(
      `<h3>${escapeHtml(set.name)}</h3>`,
      htmlTable(
        ['Count', 'What'],
        nonZero.map((c) => [c.value, c.description]),
      ),
    );
  }
  parts.push('</body></html>', '');
  return parts.join('\n');
}

export interface StatusServerOptions {
  port: number;
  /** Address to listen on (default every address: '::'). */
  host?: string;
  /** Connections at once (default 16); more are reset. */
  maxConnections?: number;
  /** Largest request body taken, in bytes (default 1024); a larger one gets 413. */
  maxBodyBytes?: number;
  /** An idle connection is closed after this long (default 30 s). */
  idleTimeoutMs?: number;
}

/** How long a connection refused for its body may take to go away before it is reset. */
const LINGER_MS = 1000;

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
};

/** The status page on a tap6 TCP listener. */
export class StatusServer {
  readonly http: http.Server;
  private readonly open = new Set<TcpSocket>();

  private constructor(
    private readonly stack: Stack,
    readonly tcp: TcpServer,
    private readonly opts: Required<Omit<StatusServerOptions, 'host'>>,
  ) {
    this.http = http.createServer({ maxHeaderSize: 8192 }, (req, res) => this.handle(req, res));
    // node:http applies this to each socket (setTimeout) and closes the socket when it fires.
    this.http.timeout = opts.idleTimeoutMs;
    this.http.keepAliveTimeout = Math.min(5000, opts.idleTimeoutMs);
  }

  /** Listens on the stack; rejects with the listen error (EADDRINUSE, …). */
  static async start(stack: Stack, o: StatusServerOptions): Promise<StatusServer> {
    const opts = { port: o.port, maxConnections: o.maxConnections ?? 16, maxBodyBytes: o.maxBodyBytes ?? 1024, idleTimeoutMs: o.idleTimeoutMs ?? 30_000 };
    const tcp = stack.net.createServer();
    const srv = new StatusServer(stack, tcp, opts);
    tcp.on('connection', (s: TcpSocket) => srv.accept(s));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(o.port, o.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', () => {});
    return srv;
  }

  get port(): number {
    return this.tcp.address()?.port ?? this.opts.port;
  }

  private accept(s: TcpSocket): void {
    s.on('error', () => {});
    if (this.open.size >= this.opts.maxConnections) {
      s.resetAndDestroy();
      return;
    }
    this.open.add(s);
    s.once('close', () => this.open.delete(s));
    this.http.emit('connection', s);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...SECURITY_HEADERS, ...extra });
      res.end(body);
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!Number.isFinite(declared) || declared > this.opts.maxBodyBytes) {
      // Refused before any of the body is read: the answer, then the connection closes (and is reset if
      // the client is still sending a moment later).
      const sock = req.socket;
      res.once('finish', () => this.stack.clock.timer(LINGER_MS, () => sock.resetAndDestroy()));
      send(413, 'text/plain; charset=utf-8', 'request body too large\n', { connection: 'close' });
      return;
    }
    let got = 0;
    req.on('data', (d: Buffer) => {
      got += d.length;
      // A body without a length (chunked) that grows too large: reset, nothing is answered.
      if (got > this.opts.maxBodyBytes) req.socket.resetAndDestroy();
    });
    req.on('end', () => {
      if (req.socket.destroyed) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(405, 'text/plain; charset=utf-8', 'only GET and HEAD\n', { allow: 'GET, HEAD' });
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/' || path === '/index.html') send(200, 'text/html; charset=utf-8', renderStatusHtml(statusData(this.stack)));
      else if (path === '/json') send(200, 'application/json', `${JSON.stringify(statusData(this.stack), null, 2)}\n`);
      else send(404, 'text/plain; charset=utf-8', 'not found\n');
    });
  }

  /** Stops listening and closes every connection. */
  close(): void {
    if (this.tcp.listening) this.tcp.close();
    for (const s of this.open) s.destroy();
    this.open.clear();
  }
}
