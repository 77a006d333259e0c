/**
 * The status page of `tap6 up --http PORT` (tools/status.ts): node:http on
 * a tap6 listener of stack a, fetched from stack b by a node:http client
 * whose connection is a tap6 one (`createConnection`). HTML at /, JSON at
 * /json, 404 elsewhere, GET and HEAD only, bounded request bodies, and every
 * value escaped in the HTML.
 */
import test from 'ava';
import http from 'node:http';
import type net from 'node:net';
import { formatIn6 } from '../../src/ip6/addr.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import { type StatusJson, StatusServer, escapeHtml, renderStatusHtml, statusData } from '../../tools/status.ts';
import { until } from './raw.ts';
import { type Rig, rig } from './rig.ts';

const PORT = 8080;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function page(t: { teardown(fn: () => unknown): void }, o: { maxConnections?: number } = {}) {
  const r = await rig();
  const status = await StatusServer.start(r.a, { port: PORT, ...o });
  t.teardown(async () => {
    status.close();
    await r.close();
  });
  const host = `${formatIn6(r.a.ip6.if6Of(r.ifa)!.linkLocal()!.addr)}%veth0`;
  const dial = (): Socket => {
    const s = r.b.net.connect({ host, port: PORT });
    s.on('error', () => {});
    return s;
  };
  /** A request from stack b over tap6 TCP. */
  const fetch = (path: string, o: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        { method: o.method ?? 'GET', path, host: 'tap6.test', headers: o.headers, createConnection: () => dial() as unknown as net.Socket },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end(o.body);
    });
  return { r, status, fetch, dial };
}

test('GET / is an HTML page with the interfaces, addresses, neighbors, routes, sockets and counters', async (t) => {
  const { r, fetch } = await page(t);
  const res = await fetch('/');
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'text/html; charset=utf-8');
  t.is(res.headers['cache-control'], 'no-store');
  t.is(Number(res.headers['content-length']), Buffer.byteLength(res.body));
  t.true(res.body.startsWith('<!DOCTYPE html>'));
  t.true(res.body.includes('<h3>tap0</h3>'));
  t.true(res.body.includes(`<td>${formatIn6(r.a.ip6.if6Of(r.ifa)!.linkLocal()!.addr)}%tap0</td>`));
  t.true(res.body.includes('<td>fe80::ff:fe00:2%tap0</td>'), 'the peer is a neighbor now');
  t.regex(res.body, /<td>tcp6<\/td><td>0<\/td><td>0<\/td><td>\*\.8080<\/td><td>\*\.\*<\/td><td>LISTEN<\/td>/);
  t.true(res.body.includes('<h3>tcp</h3>'), 'the TCP counters');
  t.regex(res.body, /<td>\d+<\/td><td>connections accepted<\/td>/);
});

test('GET /json is the same data as JSON; HEAD has the headers only', async (t) => {
  const { fetch } = await page(t);
  const res = await fetch('/json?pretty');
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json');
  const j = JSON.parse(res.body) as StatusJson;
  t.deepEqual(
    j.interfaces.map((i) => i.name),
    ['lo0', 'tap0'],
  );
  t.true(j.neighbors.some((n) => n.text === 'fe80::ff:fe00:2%tap0'));
  t.true(j.routes.some((x) => x.destination === 'fe80::%tap0/64'));
  t.true(j.sockets.some((s) => s.state === 'LISTEN' && s.local === '*.8080'));
  t.true(j.sockets.some((s) => s.state === 'ESTABLISHED' && s.local.endsWith('.8080')), 'this very request');
  t.true(j.counters.some((s) => s.name === 'tcp' && s.counters.some((c) => c.name === 'accepts' && c.value >= 1)));
  t.false(Number.isNaN(Date.parse(j.time)));

  const head = await fetch('/', { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers['content-type'], 'text/html; charset=utf-8');
  t.true(Number(head.headers['content-length']) > 0);
  t.is(head.body, '');
});

test('other paths are 404, other methods 405; a body too large is refused', async (t) => {
  const { fetch, dial } = await page(t);
  const nf = await fetch('/etc/passwd');
  t.is(nf.status, 404);
  t.is(nf.body, 'not found\n');
  const post = await fetch('/', { method: 'POST', body: 'a=1' });
  t.is(post.status, 405);
  t.is(post.headers['allow'], 'GET, HEAD');
  // (node's client frames a GET body only when told how: a length or chunked.)
  t.is((await fetch('/', { body: 'small enough', headers: { 'content-length': '12' } })).status, 200, 'a small body is read and ignored');

  // A declared length over the bound: 413 before any of the body is read, and the connection closes.
  const s = dial();
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const ended = new Promise<void>((res) => s.once('close', () => res()));
  s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: tap6.test\r\nContent-Length: 100000\r\n\r\n'));
  await ended;
  t.regex(got, /^HTTP\/1\.1 413 /);
  t.regex(got, /\r\nconnection: close\r\n/i);

  // A chunked body that grows past the bound: the connection is reset, nothing is served.
  const err = await fetch('/', { body: 'x'.repeat(5000), headers: { 'transfer-encoding': 'chunked' } }).then(
    () => null,
    (e: Error & { code?: string }) => e.code,
  );
  t.is(err, 'ECONNRESET');
});

test('connections are bounded: one over maxConnections is reset', async (t) => {
  const { r, dial, fetch } = await page(t, { maxConnections: 1 });
  const idle = dial();
  await new Promise<void>((res) => idle.once('connect', () => res()));
  t.true(await until(() => r.a.tcp.connections().some((c) => c.lport === PORT && c.state === 'ESTABLISHED')));
  const err = await fetch('/').then(
    () => null,
    (e: Error & { code?: string }) => e.code,
  );
  t.is(err, 'ECONNRESET');
  idle.destroy();
  t.true(await until(() => !r.a.tcp.connections().some((c) => c.lport === PORT && c.state === 'ESTABLISHED')));
  t.is((await fetch('/json')).status, 200, 'a slot is free again');
});

test('the HTML escapes every value', (t) => {
  t.is(escapeHtml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  const hostile = '<script>alert(1)</script>';
  const s: StatusJson = {
    time: '2026-01-01T00:00:00.000Z',
    interfaces: [
      { name: `tap0${hostile}`, index: 2, type: 'ether', flags: 0, flagNames: ['UP'], mtu: 1500, ether: hostile, addrs: [], groups: [], nd: null },
    ],
    neighbors: [{ addr: 'fe80::1', text: hostile, ifname: 'tap0', zone: 2, lladdr: hostile, state: 'REACHABLE', isRouter: false, expire: 10 }],
    routes: [],
    sockets: [{ proto: 'tcp6', recvQ: 0, sendQ: 0, local: hostile, foreign: '*.*', state: 'LISTEN' }],
    counters: [{ name: hostile, counters: [{ name: 'x', value: 1, description: hostile }] }],
  };
  const html = renderStatusHtml(s);
  t.false(html.includes('<script>'));
  t.is(html.split('&lt;script&gt;alert(1)&lt;/script&gt;').length - 1, 7);
});

test('statusData is what the page shows, from the stack', async (t) => {
  const r: Rig = await rig();
  t.teardown(() => r.close());
  const d = statusData(r.a);
  t.deepEqual(
    d.interfaces.map((i) => i.name),
    ['lo0', 'tap0'],
  );
  t.deepEqual(d.sockets, []);
  t.true(d.counters.some((c) => c.name === 'tcp'));
});
