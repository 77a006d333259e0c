/**
 * inetd's internal services over TCP (src/inetd.ts), stack to stack on the
 * tools rig (real clock): echo (RFC 862) sends back every byte until the
 * client closes; discard (RFC 863) takes everything; chargen (RFC 864)
 * streams the rotating lines at the pace the client reads and stops when it
 * closes; daytime (RFC 867) sends one ctime(3) line and closes. Errors on a
 * connection end that connection only; the tables are bounded.
 */
import test from 'ava';
import { formatIn6 } from '../../src/ip6/addr.ts';
import { Inetd, type InetdOptions, type ServiceName, SERVICE_PORTS, daytimeString } from '../../src/inetd.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import { checkChargen } from './chargen.ts';
import { until } from './raw.ts';
import { type Rig, rig } from './rig.ts';

interface Services {
  r: Rig;
  inetd: Inetd;
  /** Connects from stack b to a service on stack a; resolves once established. */
  connect(name: ServiceName, o?: { localPort?: number }): Promise<Socket>;
}

async function services(t: { teardown(fn: () => unknown): void }, opts: InetdOptions = {}): Promise<Services> {
  const r = await rig();
  const inetd = new Inetd(r.a, opts);
  t.teardown(async () => {
    inetd.close();
    await r.close();
  });
  await inetd.start(['echo', 'discard', 'daytime', 'chargen']);
  const host = `${formatIn6(r.a.ip6.if6Of(r.ifa)!.linkLocal()!.addr)}%veth0`;
  const connect = (name: ServiceName, o: { localPort?: number } = {}) =>
    new Promise<Socket>((resolve, reject) => {
      const s = r.b.net.connect({ host, port: SERVICE_PORTS[name], ...o });
      // The tests listen for the errors they expect; no other one may crash the run.
      s.on('error', () => {});
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  return { r, inetd, connect };
}

/** Everything the socket reads until the peer's FIN; rejects on an error. */
function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed && s.closed ? resolve() : s.once('close', () => resolve())));
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >>> 9)) & 0xff;
  return b;
}

/** Connections of stack a on a service port, by state. */
function serverStates(r: Rig, port: number): string[] {
  return r.a.tcp
    .connections()
    .filter((c) => c.lport === port)
    .map((c) => c.state);
}

/** Waits until `value` stays the same for 250 ms (at most `ms`); returns it, or null if it kept changing. */
async function settled(value: () => number, ms = 8000): Promise<number | null> {
  let prev = value();
  for (let t = 0; t < ms; t += 250) {
    await new Promise((res) => setTimeout(res, 250));
    const now = value();
    if (now === prev) return now;
    prev = now;
  }
  return null;
}

const CTIME = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}\r\n$/;

test('echo: 200 kB come back byte for byte; the client’s FIN ends the echo after the last byte', async (t) => {
  const { r, inetd, connect } = await services(t);
  const s = await connect('echo');
  const data = pattern(200_000);
  const got = readAll(s);
  s.end(data);
  t.true((await got).equals(data));
  await closed(s);
  t.true(await until(() => inetd.openConnections('echo') === 0));
  t.like(inetd.stats.c, { connections: 1, bytesIn: 200_000, bytesOut: 200_000, connErrors: 0 });
  t.false(serverStates(r, 7).includes('ESTABLISHED'));
  t.deepEqual(
    inetd.endpoints().map((e) => `${e.name}/${e.proto}`),
    ['echo/udp', 'echo/tcp', 'discard/udp', 'discard/tcp', 'daytime/udp', 'daytime/tcp', 'chargen/udp', 'chargen/tcp'],
  );
});

test('echo over TCP answers a client whose source port is a service port: the loop check is UDP’s', async (t) => {
  const { connect } = await services(t);
  const s = await connect('echo', { localPort: 19 });
  const got = readAll(s);
  s.end('ping over tcp');
  t.is((await got).toString(), 'ping over tcp');
});

test('discard: takes everything, answers nothing, closes when the client does', async (t) => {
  const { inetd, connect } = await services(t);
  const s = await connect('discard');
  const got = readAll(s);
  s.end(pattern(100_000));
  t.is((await got).length, 0);
  await closed(s);
  t.is(s.errored, null);
  t.true(await until(() => inetd.openConnections('discard') === 0));
  t.like(inetd.stats.c, { connections: 1, bytesIn: 100_000, bytesOut: 0, connErrors: 0 });
});

test('daytime: one ctime(3) line from the stack’s wall clock, then the server closes', async (t) => {
  const { r, inetd, connect } = await services(t);
  const before = r.a.clock.wallMs();
  const s = await connect('daytime');
  const line = (await readAll(s)).toString('latin1');
  const after = r.a.clock.wallMs();
  t.regex(line, CTIME);
  const candidates = new Set([daytimeString(before), daytimeString(after)]);
  t.true(candidates.has(line), `${JSON.stringify(line)} not in ${[...candidates].join(', ')}`);
  await closed(s);
  t.true(await until(() => inetd.openConnections('daytime') === 0));
  t.like(inetd.stats.c, { connections: 1, bytesOut: line.length });
});

test('chargen: streams the RFC 864 pattern, pauses while the client does not read, stops when it closes', async (t) => {
  const { r, inetd, connect } = await services(t);
  const s = await connect('chargen');
  const chunks: Buffer[] = [];
  let n = 0;
  let pauseAt = 300_000;
  s.on('data', (d: Buffer) => {
    chunks.push(d);
    n += d.length;
    if (n >= pauseAt) {
      pauseAt = Infinity;
      s.pause();
    }
  });
  t.true(await until(() => n >= 300_000, 5000));
  const text = Buffer.concat(chunks).toString('latin1');
  t.is(checkChargen(text), null);
  t.true(text.startsWith(' !"#$%&'), 'the first line starts with the first printable character');

  // The client stopped reading: the windows fill, write() says false, chargen waits for 'drain'.
  const held = await settled(() => inetd.stats.c.bytesOut);
  if (held === null) return t.fail('the server kept writing to a client that does not read');
  const last = held;
  await new Promise((res) => setTimeout(res, 200));
  t.is(inetd.stats.c.bytesOut, last, 'and stays stopped');
  t.true(last < 16 << 20, `bounded by the buffers: ${last}`);

  // Reading again resumes the stream, still in pattern.
  const resumedAt = n;
  s.resume();
  t.true(await until(() => inetd.stats.c.bytesOut > last && n > resumedAt + 100_000, 5000), 'it resumes');

  // The client closes: the server stops generating and closes its side too.
  const ended = new Promise<void>((res) => s.once('end', () => res()));
  s.end();
  await ended;
  await closed(s);
  t.true(await until(() => inetd.openConnections('chargen') === 0));
  const total = inetd.stats.c.bytesOut;
  await new Promise((res) => setTimeout(res, 200));
  t.is(inetd.stats.c.bytesOut, total, 'no more lines after the client left');
  t.is(checkChargen(Buffer.concat(chunks).toString('latin1')), null, 'the whole stream, across the pause, is in pattern');
  t.log(`${n} bytes read; ${last} written before the pause held`);
  t.false(serverStates(r, 19).some((x) => x === 'ESTABLISHED' || x === 'CLOSE_WAIT'));
  t.is(inetd.stats.c.connErrors, 0);
});

test('a client reset ends that connection only: counted, and the services go on', async (t) => {
  const { inetd, connect } = await services(t);
  const s = await connect('chargen');
  t.true(await new Promise<boolean>((res) => s.once('data', () => res(true))));
  s.resetAndDestroy();
  t.true(await until(() => inetd.openConnections('chargen') === 0));
  t.true(await until(() => inetd.stats.c.connErrors === 1));
  const e = await connect('echo');
  const got = readAll(e);
  e.end('still here');
  t.is((await got).toString(), 'still here');
});

test('each service holds at most maxConnections; one more is reset and counted', async (t) => {
  const { inetd, connect } = await services(t, { maxConnections: 1 });
  const first = await connect('discard');
  const second = await connect('discard');
  const err = await new Promise<Error & { code?: string }>((res) => second.once('error', res));
  t.is(err.code, 'ECONNRESET');
  t.like(inetd.stats.c, { connections: 1, connDropped: 1 });
  t.is(inetd.openConnections('discard'), 1);
  t.false(first.destroyed);
  first.end();
});

test('close resets open connections and frees the TCP ports; a taken port fails start and leaves the service closed', async (t) => {
  const { r, inetd, connect } = await services(t);
  const s = await connect('discard');
  const gone = closed(s);
  s.on('error', () => {});
  inetd.close();
  await gone;
  t.deepEqual(r.a.tcp.listenerList(), []);
  t.deepEqual(inetd.running(), []);
  const refused = await connect('echo').then(
    () => null,
    (e: Error & { code?: string }) => e.code,
  );
  t.is(refused, 'ECONNREFUSED');

  const squatter = r.a.net.createServer();
  await new Promise<void>((res) => squatter.listen(13, () => res()));
  t.teardown(() => squatter.close());
  const again = new Inetd(r.a);
  const code = await again.start(['daytime']).then(
    () => null,
    (e: Error & { code?: string }) => e.code,
  );
  t.is(code, 'EADDRINUSE');
  t.false(
    r.a.udp.pcbs().some((p) => p.lport === 13),
    'the UDP half it had opened is closed again',
  );
  t.deepEqual(again.running(), []);
  const udpOnly = new Inetd(r.a, { protocols: ['udp'] });
  await udpOnly.start(['daytime']);
  t.deepEqual(
    udpOnly.endpoints().map((e) => `${e.name}/${e.proto}`),
    ['daytime/udp'],
  );
  udpOnly.close();
});
