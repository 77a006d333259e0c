/**
 * The control socket itself: framing, malformed and oversized requests,
 * bounds, cancellation, stale and live socket files, finding the daemon.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtlClient, CtlError, CtlServer, type Handler, LineReader, parseRequest, resolveCtlPath } from '../../tools/ctl.ts';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const echo: Record<string, Handler> = {
  echo: (args) => args,
  fail: () => {
    throw new CtlError('ENXIO', 'tap9: no such interface');
  },
  crash: () => {
    throw new TypeError('boom');
  },
  slow: (_args, ctx) =>
    new Promise((resolve) => {
      let n = 0;
      const iv = setInterval(() => ctx.emit('tick', { n: ++n }), 5);
      ctx.signal.addEventListener('abort', () => {
        clearInterval(iv);
        resolve({ ticks: n, cancelled: true });
      });
    }),
};

async function server(t: { teardown(fn: () => Promise<void> | void): void }, extra: Partial<Parameters<typeof CtlServer.listen>[0]> = {}) {
  const dir = tmp(t);
  const logs: string[] = [];
  const s = await CtlServer.listen({ path: join(dir, 'd.sock'), handlers: echo, log: (m) => logs.push(m), ...extra });
  t.teardown(() => s.close());
  return { s, dir, logs };
}

/** A raw connection: write lines, read lines. */
async function raw(path: string): Promise<{ sock: Socket; send(s: string): void; next(): Promise<string>; closed: Promise<void> }> {
  const sock = connect(path);
  await new Promise<void>((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  const reader = new LineReader(1 << 20, (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  }, () => {});
  sock.on('data', (c: Buffer) => reader.push(c));
  const closed = new Promise<void>((res) => sock.on('close', () => res()));
  sock.on('error', () => {});
  return {
    sock,
    send: (s) => sock.write(s),
    next: () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((res) => waiting.push(res))),
    closed,
  };
}

/** Leaves a socket file with nobody listening, as a daemon killed with SIGKILL would. */
function staleSocket(path: string): void {
  try {
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`], {
      stdio: 'ignore',
    });
  } catch {
    /* execFileSync reports the child's SIGKILL as an error: expected */
  }
}

test('parseRequest accepts {id, cmd, args} and explains what is wrong otherwise', (t) => {
  t.deepEqual(parseRequest('{"id":3,"cmd":"ndp"}'), { ok: true, value: { id: 3, cmd: 'ndp', args: {} } });
  t.like(parseRequest('{"id":'), { ok: false, id: null, message: 'malformed request: not JSON' });
  t.like(parseRequest('[1,2]'), { ok: false, id: null, message: 'malformed request: not a JSON object' });
  t.like(parseRequest('{"cmd":"x"}'), { ok: false, id: null });
  t.like(parseRequest('{"id":-1,"cmd":"x"}'), { ok: false, id: null });
  t.like(parseRequest('{"id":1.5,"cmd":"x"}'), { ok: false, id: null });
  t.like(parseRequest('{"id":4}'), { ok: false, id: 4, message: "malformed request: 'cmd' must be a string" });
  t.like(parseRequest('{"id":4,"cmd":"x","args":[1]}'), { ok: false, id: 4, message: "malformed request: 'args' must be an object" });
});

test('LineReader splits lines across chunks and stops at the bound', (t) => {
  const got: string[] = [];
  let over = 0;
  const r = new LineReader(8, (l) => got.push(l), () => over++);
  r.push(Buffer.from('ab'));
  r.push(Buffer.from('c\r\nde\nf'));
  r.push(Buffer.from('g\n'));
  t.deepEqual(got, ['abc', 'de', 'fg']);
  r.push(Buffer.from('123456789'));
  t.is(over, 1);
  r.push(Buffer.from('\nok\n'));
  t.deepEqual(got, ['abc', 'de', 'fg'], 'nothing read after an overflow');
});

test('requests get results, errors carry code and message, events stream before the result', async (t) => {
  const { s } = await server(t);
  const c = await CtlClient.connect(s.path);
  t.teardown(() => c.close());
  t.deepEqual(await c.call('echo', { a: 1 }), { a: 1 });
  const e = await t.throwsAsync(c.call('fail'), { instanceOf: CtlError });
  t.is(e?.code, 'ENXIO');
  t.is(e?.message, 'tap9: no such interface');
  const ticks: number[] = [];
  const req = c.request('slow', {}, (ev, d) => {
    if (ev === 'tick') ticks.push(d['n'] as number);
  });
  while (ticks.length < 3) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(await c.cancel(req.id), { cancelled: true });
  const res = (await req.done) as { ticks: number; cancelled: boolean };
  t.true(res.cancelled);
  t.true(res.ticks >= 3);
});

test('malformed JSON, unknown commands and handler crashes get error responses; the connection and the daemon carry on', async (t) => {
  const { s, logs } = await server(t);
  const r = await raw(s.path);
  t.teardown(() => r.sock.destroy());
  r.send('this is not json\n');
  t.deepEqual(JSON.parse(await r.next()), { id: null, ok: false, error: { code: 'EPROTO', message: 'malformed request: not JSON' } });
  r.send('{"id":7,"cmd":"nosuch"}\n');
  t.deepEqual(JSON.parse(await r.next()), { id: 7, ok: false, error: { code: 'ENOSYS', message: "unknown command 'nosuch'" } });
  r.send('{"id":8,"cmd":"__proto__"}\n');
  t.like(JSON.parse(await r.next()), { id: 8, ok: false, error: { code: 'ENOSYS' } });
  r.send('{"id":9,"cmd":"crash"}\n');
  t.deepEqual(JSON.parse(await r.next()), { id: 9, ok: false, error: { code: 'EIO', message: 'crash: internal error: boom' } });
  t.true(logs.some((l) => l.includes('boom')));
  r.send('\n{"id":10,"cmd":"echo","args":{"x":"y"}}\n');
  t.deepEqual(JSON.parse(await r.next()), { id: 10, ok: true, result: { x: 'y' } });
  // Two requests in one write, answered in order.
  r.send('{"id":11,"cmd":"echo"}\n{"id":12,"cmd":"echo"}\n');
  t.is(JSON.parse(await r.next()).id, 11);
  t.is(JSON.parse(await r.next()).id, 12);
});

test('a request line over the bound gets E2BIG and the connection is closed', async (t) => {
  const { s } = await server(t, { maxLine: 1024 });
  const r = await raw(s.path);
  r.send(`{"id":1,"cmd":"echo","args":{"pad":"${'x'.repeat(2000)}"}}\n`);
  t.deepEqual(JSON.parse(await r.next()), { id: null, ok: false, error: { code: 'E2BIG', message: 'request line longer than 1024 bytes' } });
  await r.closed;
  const c = await CtlClient.connect(s.path);
  t.teardown(() => c.close());
  t.deepEqual(await c.call('echo', { still: 'here' }), { still: 'here' });
});

test('connections beyond the bound are refused with a message', async (t) => {
  const { s } = await server(t, { maxClients: 2 });
  const a = await CtlClient.connect(s.path);
  const b = await CtlClient.connect(s.path);
  t.teardown(() => {
    a.close();
    b.close();
  });
  await a.call('echo');
  await b.call('echo');
  const c = await CtlClient.connect(s.path);
  const e = await t.throwsAsync(c.call('echo'), { instanceOf: CtlError });
  t.is(e?.code, 'EBUSY');
  t.regex(e!.message, /too many control connections \(at most 2\)/);
  t.is(s.clients, 2);
});

test('closing the connection aborts its requests', async (t) => {
  let aborted = false;
  const { s } = await server(t, {
    handlers: {
      wait: (_a, ctx) =>
        new Promise((res) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            res(null);
          }),
        ),
    },
  });
  const c = await CtlClient.connect(s.path);
  const req = c.request('wait');
  req.done.catch(() => {});
  await new Promise((r) => setTimeout(r, 20));
  c.close();
  for (let i = 0; i < 50 && !aborted; i++) await new Promise((r) => setTimeout(r, 10));
  t.true(aborted);
});

test('the socket file is private and removed on close', async (t) => {
  const { s } = await server(t);
  t.is(statSync(s.path).mode & 0o777, 0o600);
  await s.close();
  t.false(existsSync(s.path));
});

test('a stale socket file is replaced; a live one or a non-socket is refused', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'x.sock');
  staleSocket(path);
  t.true(existsSync(path));
  // A client gets a clear message for the stale socket.
  const e = await t.throwsAsync(CtlClient.connect(path), { instanceOf: CtlError });
  t.is(e?.message, `no daemon listening on ${path} (stale control socket: connection refused)`);
  const s = await CtlServer.listen({ path, handlers: echo });
  t.teardown(() => s.close());
  const c = await CtlClient.connect(path);
  t.deepEqual(await c.call('echo', { ok: 1 }), { ok: 1 });
  c.close();
  const busy = await t.throwsAsync(CtlServer.listen({ path, handlers: echo }), { instanceOf: CtlError });
  t.is(busy?.code, 'EADDRINUSE');
  t.is(busy?.message, `a daemon is already listening on ${path}`);
  t.true(existsSync(path), 'the live socket was left alone');
  const file = join(dir, 'plain');
  writeFileSync(file, 'keep me');
  const notSock = await t.throwsAsync(CtlServer.listen({ path: file, handlers: echo }), { instanceOf: CtlError });
  t.regex(notSock!.message, /exists and is not a socket/);
  t.true(existsSync(file));
});

test('finding the daemon: the only socket, none, several; connect errors in words', async (t) => {
  const dir = tmp(t);
  t.is(resolveCtlPath('/given/path.sock', dir), '/given/path.sock');
  const none = t.throws(() => resolveCtlPath(undefined, join(dir, 'missing')), { instanceOf: CtlError });
  t.is(none?.message, `no daemon running (no control socket in ${join(dir, 'missing')}); start one with: tap6 up --tap NAME`);
  mkdirSync(join(dir, 'run'));
  writeFileSync(join(dir, 'run', 'notasocket.sock'), '');
  t.throws(() => resolveCtlPath(undefined, join(dir, 'run')), { message: /no daemon running/ });
  staleSocket(join(dir, 'run', 'tap0.sock'));
  t.is(resolveCtlPath(undefined, join(dir, 'run')), join(dir, 'run', 'tap0.sock'));
  staleSocket(join(dir, 'run', 'tap1.sock'));
  const several = t.throws(() => resolveCtlPath(undefined, join(dir, 'run')), { instanceOf: CtlError });
  t.is(several?.message, `several daemons are running (${join(dir, 'run', 'tap0.sock')}, ${join(dir, 'run', 'tap1.sock')}); choose one with --ctl PATH`);
  const missing = await t.throwsAsync(CtlClient.connect(join(dir, 'nope.sock')), { instanceOf: CtlError });
  t.is(missing?.message, `no daemon at ${join(dir, 'nope.sock')} (no such socket); start one with: tap6 up --tap NAME --ctl ${join(dir, 'nope.sock')}`);
});

test('the client fails outstanding requests when the daemon goes away', async (t) => {
  const { s } = await server(t, { handlers: { wait: () => new Promise(() => {}) } });
  const c = await CtlClient.connect(s.path);
  const p = c.call('wait');
  await new Promise((r) => setTimeout(r, 20));
  await s.close();
  const e = await t.throwsAsync(p, { instanceOf: CtlError });
  t.is(e?.message, 'the daemon closed the connection');
  await t.throwsAsync(c.call('wait'), { instanceOf: CtlError });
});
