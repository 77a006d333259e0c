/**
 * Receive bursts (src/core/burst.ts): when the link hands over several frames
 * in one batch (as the TAP does per readable event), the receiver sends one
 * ACK for the burst's data at its end (a stretch ACK, at most 64 KiB), and the
 * interface gives the frames sent during the burst to the driver in one
 * transmitBatch call. Without batches, ACKs go every second segment as before.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { in6Equal } from '../../src/ip6/addr.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import type { Host } from '../helpers/stack.ts';
import { TH_ACK, bytes, llText, tcpNet, tcpOf, turns, type SegSeen } from '../helpers/tcp.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function oneWay(batch: boolean, size: number) {
  const net = tcpNet({ hosts: 2, latencyMs: 1, batch });
  const [a, b] = net.hosts as [Host, Host];
  const data = bytes(size, 5);
  const hash = createHash('sha256');
  let got = 0;
  let ended = false;
  b.s.net
    .createServer((s: Socket) => {
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
  c.end(data);
  for (let i = 0; i < 50_000 && !ended; i++) {
    net.clock.advance(1);
    await turns(1);
  }
  net.clock.advance(100); // the last ACKs land
  await turns(1);
  const segs = net.raw.frames.map(tcpOf).filter((s): s is SegSeen => s !== null);
  const fromA = segs.filter((s) => in6Equal(s.src, 0, a.ll) && s.data.length > 0);
  const acksFromB = segs.filter((s) => in6Equal(s.src, 0, b.ll) && s.flags === TH_ACK && s.data.length === 0);
  return { net, a, b, data, got, ended, digest: hash.digest('hex'), fromA, acksFromB };
}

test('batched link: one ACK per receive burst (stretch ACKs of at most 64 KiB), data intact', async (t) => {
  const r = await oneWay(true, 4 << 20);
  t.true(r.ended);
  t.is(r.got, r.data.length);
  t.is(r.digest, sha(r.data));
  const segs = r.fromA.length;
  const acks = r.acksFromB.length;
  t.log(`${segs} data segments, ${acks} pure ACKs, ${r.b.s.tcp.stats.c.sndStretchAcks} at burst ends`);
  t.true(r.b.s.tcp.stats.c.sndStretchAcks > 0, 'ACKs were sent at burst ends');
  t.true(acks * 4 < segs, `far fewer ACKs than one per two segments (${acks} for ${segs})`);
  // No ACK covers more than 64 KiB beyond the one before (plus the segment that crossed the bound).
  const mss = Math.max(...r.fromA.map((s) => s.data.length));
  let prev = r.acksFromB[0]!.ack;
  let most = 0;
  for (const s of r.acksFromB.slice(1)) {
    most = Math.max(most, (s.ack - prev) >>> 0);
    prev = s.ack;
  }
  t.true(most <= 65536 + mss, `largest stretch ${most} bytes`);
  t.true(most > 4 * mss, `ACKs do stretch (${most} bytes)`);
  t.is(r.a.s.tcp.stats.c.sndRexmitPack, 0, 'no retransmission: the sender was never starved');
});

test('one frame per batch: the receiver ACKs at least every second full-sized segment (RFC 9293 §3.8.6.3)', async (t) => {
  const r = await oneWay(false, 1 << 20);
  t.true(r.ended);
  t.is(r.digest, sha(r.data));
  const segs = r.fromA.length;
  const acks = r.acksFromB.length;
  t.true(acks * 2 >= segs - 2, `${acks} ACKs for ${segs} segments`);
  const mss = Math.max(...r.fromA.map((s) => s.data.length));
  for (let i = 1; i < r.acksFromB.length; i++) {
    const d = (r.acksFromB[i]!.ack - r.acksFromB[i - 1]!.ack) >>> 0;
    if (d > 2 * mss) return t.fail(`an ACK covered ${d} bytes`);
  }
  t.pass();
});

test('frames sent during a burst reach the driver in one transmitBatch call each burst, in order', async (t) => {
  const net = tcpNet({ hosts: 2, latencyMs: 1, batch: true });
  const [a, b] = net.hosts as [Host, Host];
  const drv = a.ifp.driver;
  const orig = drv.transmitBatch!.bind(drv);
  const calls: number[] = [];
  drv.transmitBatch = (frames) => (calls.push(frames.length), orig(frames));
  const data = bytes(1 << 20, 9);
  let got = 0;
  let ended = false;
  b.s.net
    .createServer((s: Socket) => {
      s.on('data', (d: Buffer) => (got += d.length));
      s.on('end', () => ((ended = true), s.end()));
    })
    .listen(9001);
  await turns();
  const c = a.s.net.connect({ host: llText(b), port: 9001 });
  c.end(data);
  for (let i = 0; i < 20_000 && !ended; i++) {
    net.clock.advance(1);
    await turns(1);
  }
  t.true(ended);
  t.is(got, data.length);
  t.true(calls.length > 0 && Math.max(...calls) > 1, `batched transmits: ${calls.length} calls, up to ${Math.max(...calls)} frames`);
  // The sender's data segments went out in sequence order (no reordering by the batching).
  const seqs = net.raw.frames
    .map(tcpOf)
    .filter((s): s is SegSeen => s !== null && in6Equal(s.src, 0, a.ll) && s.data.length > 0)
    .map((s) => s.seq);
  for (let i = 1; i < seqs.length; i++) if (((seqs[i]! - seqs[i - 1]!) | 0) <= 0) return t.fail(`segment ${i} out of order`);
  t.is(a.ifp.stats.c.txDriverDrop, 0);
});
