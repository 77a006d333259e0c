/**
 * Buffer autotuning: the receive buffer (and so the advertised window) grows
 * to twice what the application reads per round trip, the send buffer to
 * twice the congestion window, each up to its bound. On a long virtual link
 * (40 ms round trip, no bandwidth limit) a transfer is window-bound, so the
 * grown buffers show as a shorter transfer in virtual time.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Socket } from '../../src/tcp/socket.ts';
import type { TcpConfig } from '../../src/tcp/tcpcb.ts';
import type { Host } from '../helpers/stack.ts';
import { bytes, llText, tcpNet, turns } from '../helpers/tcp.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function transfer(tcp: Partial<TcpConfig>, size = 8 << 20) {
  const net = tcpNet({ hosts: 2, latencyMs: 20, tcp });
  const [a, b] = net.hosts as [Host, Host];
  const data = bytes(size, 3);
  const hash = createHash('sha256');
  let got = 0;
  let ended = false;
  const windows: number[] = [];
  let server: Socket | undefined;
  b.s.net
    .createServer((s: Socket) => {
      server = s;
      s.on('data', (d: Buffer) => {
        hash.update(d);
        got += d.length;
      });
      s.on('end', () => ((ended = true), s.end()));
    })
    .listen(9000);
  await turns();
  const c = a.s.net.connect({ host: llText(b), port: 9000 });
  c.on('error', () => {});
  const t0 = net.clock.now();
  c.end(data);
  let maxSnd = 0;
  for (let i = 0; i < 200_000 && !ended; i++) {
    net.clock.advance(1);
    await turns(1);
    const cb = a.s.tcp.connections()[0];
    if (cb) maxSnd = Math.max(maxSnd, cb.snd.limit);
    const bcb = b.s.tcp.connections()[0];
    if (bcb) windows.push(bcb.rcvBuf);
  }
  return { a, b, ms: net.clock.now() - t0, ok: got === data.length && hash.digest('hex') === sha(data), maxRcv: Math.max(...windows), maxSnd, server };
}

test('receive and send buffers grow with the bandwidth-delay product, and the transfer is faster for it', async (t) => {
  const on = await transfer({});
  const off = await transfer({ autotune: false });
  t.true(on.ok && off.ok, 'both arrive intact');
  const cfg = on.b.s.tcp.config;
  t.log(`autotune: ${on.ms} ms, receive buffer up to ${on.maxRcv}, send buffer up to ${on.maxSnd}; fixed: ${off.ms} ms`);
  t.true(on.maxRcv > cfg.rcvBuf, `the receive buffer grew (${on.maxRcv} > ${cfg.rcvBuf})`);
  t.true(on.maxRcv <= cfg.maxRcvBuf);
  t.true(on.maxSnd > cfg.sndBuf, `the send buffer grew (${on.maxSnd} > ${cfg.sndBuf})`);
  t.true(on.maxSnd <= cfg.maxSndBuf);
  t.true(on.b.s.tcp.stats.c.rcvBufGrown > 0 && on.a.s.tcp.stats.c.sndBufGrown > 0);
  t.is(off.maxRcv, cfg.rcvBuf, 'without autotune the buffer stays');
  t.is(off.b.s.tcp.stats.c.rcvBufGrown, 0);
  t.true(on.ms * 2 < off.ms, `window-bound: ${on.ms} ms against ${off.ms} ms`);
});

test('autotuning stops at maxRcvBuf and maxSndBuf', async (t) => {
  const r = await transfer({ maxRcvBuf: 300 * 1024, maxSndBuf: 400 * 1024 });
  t.true(r.ok);
  t.true(r.maxRcv > 128 * 1024 && r.maxRcv <= 300 * 1024, String(r.maxRcv));
  t.true(r.maxSnd > 256 * 1024 && r.maxSnd <= 400 * 1024, String(r.maxSnd));
});

test('a reader that does not keep up does not grow the receive buffer', async (t) => {
  const net = tcpNet({ hosts: 2, latencyMs: 20 });
  const [a, b] = net.hosts as [Host, Host];
  let server!: Socket;
  b.s.net.createServer((s: Socket) => ((server = s), s.pause())).listen(9001);
  await turns();
  const c = a.s.net.connect({ host: llText(b), port: 9001 });
  c.on('error', () => {});
  c.write(bytes(4 << 20, 1));
  for (let i = 0; i < 3000; i++) {
    net.clock.advance(1);
    await turns(1);
  }
  const bcb = b.s.tcp.connections()[0]!;
  t.is(bcb.rcvBuf, b.s.tcp.config.rcvBuf, 'nothing read, nothing grown');
  t.is(bcb.rcvWindow(), 0, 'the window closed on the unread data');
  server.destroy();
  c.destroy();
});

test('congestion window validation (RFC 7661): an application-limited sender does not grow its window; a bulk one does', async (t) => {
  const net = tcpNet({ hosts: 2, latencyMs: 5 });
  const [a, b] = net.hosts as [Host, Host];
  b.s.net.createServer((s: Socket) => s.resume()).listen(9002);
  await turns();
  const c = a.s.net.connect({ host: llText(b), port: 9002 });
  c.on('error', () => {});
  for (let i = 0; i < 20; i++) {
    net.clock.advance(1);
    await turns(1);
  }
  const cb = a.s.tcp.connections()[0]!;
  const iw = cb.cc.cwnd;
  // 200 small writes, each acknowledged before the next: never more than 1,000 bytes in flight.
  for (let i = 0; i < 200; i++) {
    c.write(bytes(1000, i));
    for (let k = 0; k < 25; k++) {
      net.clock.advance(2);
      await turns(1);
    }
  }
  t.is(cb.cc.cwnd, iw, `cwnd stayed at the initial window (${iw}), not grown by 200 ACKs it never used`);
  t.true(a.s.tcp.stats.c.cwndNotLimited >= 150);
  // A bulk write fills the window: it grows.
  c.write(bytes(4 << 20, 9));
  for (let k = 0; k < 400; k++) {
    net.clock.advance(2);
    await turns(1);
  }
  t.true(cb.cc.cwnd > 4 * iw, `bulk: cwnd ${cb.cc.cwnd}`);
  c.destroy();
});
