/**
 * The node:net-shaped API (src/tcp/socket.ts) between two stacks on the
 * virtual link: Server (createServer, listen, address, close and their
 * events), the connect forms, Socket as a stream.Duplex, its address and
 * byte-count properties, idle timeouts, end/destroy, the error codes node
 * uses, and node:http running over it both as server and as client.
 */
import test from 'ava';
import http from 'node:http';
import { Duplex, PassThrough } from 'node:stream';
import { formatIn6 } from '../../src/ip6/addr.ts';
import type { Server, Socket } from '../../src/tcp/socket.ts';
import type { Host, Net } from '../helpers/stack.ts';
import { RAW_TEXT, RawPeer, TH_FIN, TH_RST, bytes, collect, events, llText, pump, tcpNet, turns, until } from '../helpers/tcp.ts';

type SysErr = Error & { code?: string; errno?: number; syscall?: string; address?: string; port?: number };

function pair(tcp: Parameters<typeof tcpNet>[0] = {}): { net: Net; a: Host; b: Host } {
  const net = tcpNet({ hosts: 2, ...tcp });
  const [a, b] = net.hosts as [Host, Host];
  return { net, a, b };
}

/** A server on b:port that hands each connection to `onConn`, listening when this resolves. */
async function serve(net: Net, b: Host, port: number, onConn: (s: Socket) => void = () => {}, opts: { allowHalfOpen?: boolean } = {}): Promise<Server> {
  const server = b.s.net.createServer(opts, onConn);
  server.listen(port);
  await pump(net.clock, 0);
  return server;
}

/** Pumps the clock until `p` settles. */
async function settled<T>(net: Net, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  const q = p.finally(() => (done = true));
  await until(net.clock, () => done, 'a promise', 5, maxMs);
  return q;
}

// ---- Server ----------------------------------------------------------------------

test('Server: listen(0) picks an ephemeral port; address(), "listening", listening; close() emits "close"', async (t) => {
  const { net, b } = pair();
  const server = b.s.net.createServer();
  const ev = events(server, ['listening', 'close']);
  t.false(server.listening);
  t.is(server.address(), null);
  let cbCalled = false;
  server.listen(0, () => (cbCalled = true));
  t.deepEqual(ev, [], '"listening" comes asynchronously');
  await turns();
  t.deepEqual(ev, ['listening']);
  t.true(cbCalled);
  t.true(server.listening);
  const addr = server.address()!;
  t.is(addr.address, '::');
  t.is(addr.family, 'IPv6');
  t.true(addr.port >= 49152 && addr.port <= 65535, String(addr.port));
  let closeErr: unknown = 'not called';
  server.close((e) => (closeErr = e));
  await turns();
  t.deepEqual(ev, ['listening', 'close']);
  t.is(closeErr, undefined);
  t.false(server.listening);
  await pump(net.clock, 1);
});

test('Server: listen on a scoped address; address() gives it with its zone', async (t) => {
  const { net, b } = pair();
  const server = b.s.net.createServer();
  server.listen({ port: 8080, host: llText(b) });
  await turns();
  t.deepEqual(server.address(), { address: llText(b), family: 'IPv6', port: 8080 });
  server.close();
  await pump(net.clock, 1);
});

test('Server: "connection" gets a Socket; close() waits for open connections before "close"', async (t) => {
  const { net, a, b } = pair();
  const conns: Socket[] = [];
  const server = await serve(net, b, 7000, (s) => {
    conns.push(s);
    s.resume();
  });
  const ev = events(server, ['close']);
  const c = a.s.net.connect(7000, llText(b));
  c.resume();
  await pump(net.clock, 5, 1);
  t.is(conns.length, 1);
  t.true(conns[0] instanceof Duplex);
  let closed = false;
  server.close(() => (closed = true));
  await pump(net.clock, 5, 1);
  t.false(closed, 'a connection is still open');
  t.deepEqual(ev, []);
  // New connections are refused once closed.
  const late = a.s.net.connect(7000, llText(b));
  const lateEv = events(late);
  await pump(net.clock, 5, 1);
  t.deepEqual(lateEv, ['error:ECONNREFUSED', 'close']);
  c.end();
  conns[0]!.end();
  await pump(net.clock, 20, 1);
  t.true(closed);
  t.deepEqual(ev, ['close']);
});

test('Server: getConnections(), close() when not listening, listen() twice', async (t) => {
  const { net, a, b } = pair();
  const server = await serve(net, b, 7001, (s) => s.resume());
  a.s.net.connect(7001, llText(b));
  a.s.net.connect(7001, llText(b));
  await pump(net.clock, 5, 1);
  const n = await new Promise<number>((res) => server.getConnections((_e, k) => res(k)));
  t.is(n, 2);
  t.throws(() => server.listen(7002), { code: 'ERR_SERVER_ALREADY_LISTEN' } as never);
  const idle = b.s.net.createServer();
  const err = await new Promise<SysErr | undefined>((res) => idle.close((e) => res(e as SysErr)));
  t.is(err?.code, 'ERR_SERVER_NOT_RUNNING');
});

// ---- connect forms ----------------------------------------------------------------------

test('connect forms: options object, (port, host), (port, host, callback), createConnection, new Socket().connect', async (t) => {
  const { net, a, b } = pair();
  let accepted = 0;
  await serve(net, b, 7100, (s) => {
    accepted++;
    s.resume();
  });
  const host = llText(b);
  const called: string[] = [];
  const s1 = a.s.net.connect({ port: 7100, host });
  const s2 = a.s.net.connect(7100, host);
  const s3 = a.s.net.connect(7100, host, () => called.push('s3'));
  const s4 = a.s.net.createConnection({ port: 7100, host }, () => called.push('s4'));
  const s5 = new a.s.net.Socket();
  t.is(s5.connect({ port: 7100, host }, () => called.push('s5')), s5, 'connect() returns the socket');
  for (const s of [s1, s2, s3, s4, s5]) t.true(s.connecting);
  await pump(net.clock, 5, 1);
  t.deepEqual(called.sort(), ['s3', 's4', 's5']);
  t.is(accepted, 5);
  for (const s of [s1, s2, s3, s4, s5]) {
    t.false(s.connecting);
    t.is(s.readyState, 'open');
  }
});

test('connect().end(data): the data and the FIN follow the handshake', async (t) => {
  const { net, a, b } = pair();
  let got!: ReturnType<typeof collect>;
  let ended = false;
  await serve(net, b, 7101, (s) => {
    got = collect(s);
    s.on('end', () => (ended = true));
  });
  const c = a.s.net.connect(7101, llText(b));
  c.end('request\n');
  await pump(net.clock, 20, 1);
  t.is(got.text(), 'request\n');
  t.true(ended);
});

// ---- Socket as a stream ------------------------------------------------------------------

test('Socket is a stream.Duplex: pipe() both ways through an echo server', async (t) => {
  const { net, a, b } = pair();
  await serve(net, b, 7200, (s) => s.pipe(s));
  const c = a.s.net.connect(7200, llText(b));
  t.true(c instanceof Duplex);
  const src = new PassThrough();
  const dst = new PassThrough();
  const got = collect(dst as unknown as Socket);
  src.pipe(c).pipe(dst);
  const payload = Buffer.from(bytes(300_000, 4));
  src.end(payload);
  await until(net.clock, () => got.length >= payload.length, 'the echo', 5);
  t.true(got.bytes().equals(payload));
  await pump(net.clock, 20, 1);
  t.is(c.bytesWritten, payload.length);
  t.is(c.bytesRead, payload.length);
});

test('Socket properties: addresses, ports, family, bytesRead, bytesWritten, address()', async (t) => {
  const { net, a, b } = pair();
  let server!: Socket;
  await serve(net, b, 7300, (s) => (server = s));
  const c = a.s.net.connect({ port: 7300, host: llText(b) });
  t.is(c.remoteAddress, llText(b), 'known while connecting');
  await pump(net.clock, 5, 1);
  t.is(c.remoteAddress, llText(b));
  t.is(c.remotePort, 7300);
  t.is(c.remoteFamily, 'IPv6');
  t.is(c.localAddress, llText(a));
  t.true(c.localPort! >= 49152);
  t.is(server.remoteAddress, llText(a));
  t.is(server.remotePort, c.localPort);
  t.is(server.localPort, 7300);
  t.is(server.localAddress, llText(b));
  t.deepEqual(c.address(), { address: llText(a), family: 'IPv6', port: c.localPort! });
  server.resume();
  c.write('12345');
  c.write(Buffer.from('678'));
  server.write('abc');
  const got = collect(c);
  await pump(net.clock, 50, 5);
  t.is(c.bytesWritten, 8);
  t.is(server.bytesRead, 8);
  t.is(server.bytesWritten, 3);
  t.is(c.bytesRead, 3);
  t.is(got.text(), 'abc');
  t.is(formatIn6(a.ll), c.localAddress!.split('%')[0]);
});

test('connect with localAddress and localPort binds the connection to them', async (t) => {
  const { net, a, b } = pair();
  let server!: Socket;
  await serve(net, b, 7301, (s) => (server = s));
  const c = a.s.net.connect({ port: 7301, host: llText(b), localAddress: llText(a), localPort: 40000 });
  await pump(net.clock, 5, 1);
  t.is(c.localPort, 40000);
  t.is(server.remotePort, 40000);
});

test('setTimeout: "timeout" after the idle time, postponed by traffic, not closing the socket; 0 disables it', async (t) => {
  const { net, a, b } = pair();
  let server!: Socket;
  await serve(net, b, 7400, (s) => (server = s));
  const c = a.s.net.connect(7400, llText(b));
  await pump(net.clock, 5, 1);
  c.resume();
  const fired: number[] = [];
  const start = net.clock.now();
  c.setTimeout(1000, () => fired.push(net.clock.now() - start));
  await pump(net.clock, 900, 100);
  server.write('keep me up');
  await pump(net.clock, 900, 100);
  t.deepEqual(fired, [], 'the data reset the idle timer');
  await pump(net.clock, 300, 100);
  t.is(fired.length, 1);
  t.true(fired[0]! >= 1900 && fired[0]! <= 2000, String(fired[0]));
  t.false(c.destroyed, 'a timeout does not close the socket');
  const again: number[] = [];
  c.on('timeout', () => again.push(1));
  c.setTimeout(0);
  await pump(net.clock, 5000, 500);
  t.deepEqual(again, []);
});

// ---- end / destroy ------------------------------------------------------------------------

test('end(): the peer sees "end"; both sides close cleanly with FINs (no RST)', async (t) => {
  const { net, a, b } = pair();
  let server!: Socket;
  let sev!: string[];
  await serve(net, b, 7500, (s) => {
    server = s;
    sev = events(s);
    s.resume();
  });
  const c = a.s.net.connect(7500, llText(b));
  const cev = events(c);
  await pump(net.clock, 5, 1);
  c.resume();
  c.end('bye');
  await pump(net.clock, 50, 5);
  t.deepEqual(sev, ['end', 'finish', 'close']);
  t.deepEqual(cev, ['connect', 'ready', 'finish', 'end', 'close']);
  t.is(a.s.tcp.stats.c.sndRst + b.s.tcp.stats.c.sndRst, 0);
  t.is(c.tcpState, 'TIME_WAIT');
  t.is(server.tcpState, 'CLOSED');
});

test('a socket nobody reads still sees "end" and "close" when the peer closes (no wait for TIME-WAIT)', async (t) => {
  // node:net calls read(0) after the EOF so that "end" fires with an empty buffer even in paused mode.
  const { net, a, b } = pair();
  await serve(net, b, 7501, (s) => {
    s.resume();
    s.on('end', () => s.end());
  });
  const c = a.s.net.connect(7501, llText(b));
  const cev = events(c);
  await pump(net.clock, 5, 1);
  c.end('bye');
  await pump(net.clock, 50, 5);
  t.deepEqual(cev, ['connect', 'ready', 'finish', 'end', 'close']);
  t.is(c.tcpState, 'TIME_WAIT');
});

test('destroy(): what was written is still delivered, then a FIN; the peer sees "end", not a reset', async (t) => {
  const { net, a, b } = pair();
  let got!: ReturnType<typeof collect>;
  let sev!: string[];
  await serve(net, b, 7501, (s) => {
    got = collect(s);
    sev = events(s);
  });
  const c = a.s.net.connect(7501, llText(b));
  const cev = events(c);
  await pump(net.clock, 5, 1);
  const payload = Buffer.from(bytes(100_000, 8));
  c.write(payload);
  c.destroy();
  await pump(net.clock, 200, 5);
  t.true(got.bytes().equals(payload), `${got.length} of ${payload.length} bytes`);
  t.true(sev.includes('end'), sev.join());
  t.false(sev.some((e) => e.startsWith('error')));
  t.deepEqual(cev, ['connect', 'ready', 'close']);
  t.is(a.s.tcp.stats.c.sndRst, 0);
});

test('destroy(err) and resetAndDestroy() abort with RST: the peer gets ECONNRESET', async (t) => {
  for (const how of ['error', 'reset'] as const) {
    const { net, a, b } = pair();
    let sev!: string[];
    await serve(net, b, 7502, (s) => {
      sev = events(s);
      s.resume();
    });
    const c = a.s.net.connect(7502, llText(b));
    c.on('error', () => {});
    await pump(net.clock, 5, 1);
    if (how === 'error') c.destroy(new Error('boom'));
    else c.resetAndDestroy();
    await pump(net.clock, 10, 1);
    t.deepEqual(sev, ['error:ECONNRESET', 'close'], how);
    t.is(a.s.tcp.stats.c.sndRst, 1);
  }
});

// ---- error codes ---------------------------------------------------------------------------

test('ECONNREFUSED: nobody listens on the port', async (t) => {
  const { net, a, b } = pair();
  const c = a.s.net.connect(7600, llText(b));
  const errs: SysErr[] = [];
  c.on('error', (e: SysErr) => errs.push(e));
  await pump(net.clock, 5, 1);
  t.is(errs.length, 1);
  t.like(errs[0], { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: llText(b), port: 7600 });
  t.regex(errs[0]!.message, /^connect ECONNREFUSED/);
  t.true(c.destroyed);
});

test('ECONNRESET: the peer resets an open connection', async (t) => {
  const { net, a, b } = pair();
  await serve(net, b, 7601, (s) => s.resetAndDestroy());
  const c = a.s.net.connect(7601, llText(b));
  const errs: SysErr[] = [];
  c.on('error', (e: SysErr) => errs.push(e));
  await pump(net.clock, 10, 1);
  t.like(errs[0], { code: 'ECONNRESET', errno: -104, syscall: 'read' });
});

test('ETIMEDOUT: a peer that never answers the SYN', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const c = h.s.net.connect({ port: peer.port, host: RAW_TEXT });
  const errs: SysErr[] = [];
  c.on('error', (e: SysErr) => errs.push(e));
  await pump(net.clock, 130_000, 1000);
  t.like(errs[0], { code: 'ETIMEDOUT', errno: -110, syscall: 'connect' });
});

test('EADDRINUSE: a second listener on the same port; a connection on a four-tuple in use', async (t) => {
  const { net, a, b } = pair();
  await serve(net, b, 7700);
  const second = b.s.net.createServer();
  const errs: SysErr[] = [];
  second.on('error', (e: SysErr) => errs.push(e));
  second.listen(7700);
  await turns();
  t.like(errs[0], { code: 'EADDRINUSE', errno: -98, syscall: 'listen', port: 7700 });
  t.false(second.listening);
  const c1 = a.s.net.connect({ port: 7700, host: llText(b), localPort: 41000 });
  await pump(net.clock, 5, 1);
  const c2 = a.s.net.connect({ port: 7700, host: llText(b), localPort: 41000 });
  const e2: SysErr[] = [];
  c2.on('error', (e: SysErr) => e2.push(e));
  await pump(net.clock, 5, 1);
  t.like(e2[0], { code: 'EADDRINUSE', syscall: 'connect' });
  t.is(c1.readyState, 'open');
});

test('EADDRNOTAVAIL: listening on, or connecting from, an address the stack does not have', async (t) => {
  const { net, a, b } = pair();
  const server = a.s.net.createServer();
  const errs: SysErr[] = [];
  server.on('error', (e: SysErr) => errs.push(e));
  server.listen(7800, '2001:db8::99');
  const c = a.s.net.connect({ port: 7800, host: llText(b), localAddress: 'fe80::99%vl0' });
  const e2: SysErr[] = [];
  c.on('error', (e: SysErr) => e2.push(e));
  await pump(net.clock, 5, 1);
  t.like(errs[0], { code: 'EADDRNOTAVAIL', errno: -99, syscall: 'listen' });
  t.like(e2[0], { code: 'EADDRNOTAVAIL', errno: -99, syscall: 'connect' });
});

test('EPIPE: writing after the peer closed and then reset the connection', async (t) => {
  const { net, a, b } = pair();
  let server!: Socket;
  await serve(net, b, 7900, (s) => {
    server = s;
    s.resume();
  });
  const c = new a.s.net.Socket({ allowHalfOpen: true });
  c.connect(7900, llText(b));
  const ev = events(c);
  c.resume();
  await pump(net.clock, 5, 1);
  server.end();
  await pump(net.clock, 10, 1);
  t.true(ev.includes('end'), 'the peer’s FIN');
  server.resetAndDestroy();
  await pump(net.clock, 10, 1);
  t.false(ev.some((e) => e.startsWith('error')), 'not noticed while not writing');
  const werr = await new Promise<SysErr | null | undefined>((res) => c.write('anyone?', (e) => res(e as SysErr)));
  await pump(net.clock, 1);
  t.like(werr, { code: 'EPIPE', errno: -32, syscall: 'write' });
  t.true(ev.includes('error:EPIPE'), ev.join());
  t.true(c.destroyed);
});

test('ERR_SOCKET_BAD_PORT: connect and listen reject ports outside 0..65535 synchronously', async (t) => {
  const { a } = pair();
  for (const port of [0, -1, 65536, 1.5, Number.NaN]) {
    t.throws(() => a.s.net.connect({ port, host: '::1' }), { code: 'ERR_SOCKET_BAD_PORT', instanceOf: RangeError } as never, String(port));
  }
  for (const port of [-1, 65536, 1.5]) {
    t.throws(() => a.s.net.createServer().listen(port), { code: 'ERR_SOCKET_BAD_PORT', instanceOf: RangeError } as never, String(port));
  }
});

test('EINVAL: a link-local destination without a zone, or text that is not an address', async (t) => {
  const { net, a, b } = pair();
  const codes: string[] = [];
  for (const host of [formatIn6(b.ll), 'not-an-address']) {
    const c = a.s.net.connect({ port: 80, host });
    c.on('error', (e: SysErr) => codes.push(e.code!));
  }
  await pump(net.clock, 1);
  t.deepEqual(codes, ['EINVAL', 'EINVAL']);
});

// ---- the loopback interface ---------------------------------------------------------------

test('loopback: a stack talks to itself over ::1', async (t) => {
  const { net, a } = pair();
  const server = a.s.net.createServer((s) => s.pipe(s));
  server.listen(8000, '::1');
  await turns();
  const c = a.s.net.connect(8000, '::1');
  const got = collect(c);
  c.end('over lo0');
  await until(net.clock, () => got.text() === 'over lo0', 'the echo over lo0', 5, 5000);
  t.is(c.remoteAddress, '::1');
});

// ---- node:http --------------------------------------------------------------------------------

test('node:http: a server on a tap6 listener and a client using createConnection, stack to stack', async (t) => {
  const { net, a, b } = pair();
  const big = Buffer.from(bytes(200_000, 6));
  const httpServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
        res.end(big);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-remote': String(req.socket.remoteAddress) });
        res.end(`${req.method} ${req.url} ${body}`);
      }
    });
  });
  const l = b.s.net.createServer((s) => httpServer.emit('connection', s));
  l.listen(80);
  await turns();
  const request = (path: string, method = 'GET', body?: string) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = http.request(
        {
          method,
          path,
          createConnection: () => a.s.net.createConnection({ port: 80, host: llText(b) }) as unknown as import('node:net').Socket,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const r1 = await settled(net, request('/hello', 'POST', 'payload'));
  t.is(r1.status, 200);
  t.is(r1.body.toString(), 'POST /hello payload');
  t.is(r1.headers['x-remote'], llText(a));
  const r2 = await settled(net, request('/big'));
  t.is(r2.status, 200);
  t.true(r2.body.equals(big));
  l.close();
  httpServer.close();
  await pump(net.clock, 100, 10);
});

test('segments on the wire for an API connection: SYN, data, FIN, no RST', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const c = h.s.net.connect({ port: peer.port, host: RAW_TEXT });
  await peer.accept();
  c.end('done');
  await pump(net.clock, 5, 1);
  const segs = peer.take();
  t.truthy(segs.find((s) => s.flags & TH_FIN));
  t.falsy(segs.find((s) => s.flags & TH_RST));
  t.is(Buffer.from(peer.absorb(segs)).toString(), 'done');
});
