/**
 * Bulk transfers between two stacks on the virtual link, through the fault
 * injector (src/link/fault.ts): 2 MiB each way at once must arrive byte for
 * byte while segments are lost and reordered, and the counters must show the
 * recovery machinery at work (fast retransmits, timeouts, retransmitted
 * bytes, out-of-order queueing). Everything runs on the virtual clock.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { SeededRng } from '../../src/core/rng.ts';
import { FaultInjector, type FaultSpec } from '../../src/link/fault.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import type { TcpConfig } from '../../src/tcp/tcpcb.ts';
import { bytes, llText, tcpNet, turns } from '../helpers/tcp.ts';

const MiB = 1 << 20;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Sink {
  hash: ReturnType<typeof createHash>;
  n: number;
  ended: boolean;
}

function sink(s: Socket): Sink {
  const k: Sink = { hash: createHash('sha256'), n: 0, ended: false };
  s.on('data', (d: Buffer) => {
    k.hash.update(d);
    k.n += d.length;
  });
  s.on('end', () => (k.ended = true));
  return k;
}

async function bulk(o: { faults: FaultSpec; tcp?: Partial<TcpConfig>; size: number; seed: number }) {
  const net = tcpNet({ hosts: 2, latencyMs: 1, tcp: o.tcp });
  const [a, b] = net.hosts as [NonNullable<(typeof net.hosts)[0]>, NonNullable<(typeof net.hosts)[0]>];
  const fi = new FaultInjector({ clock: net.clock, rng: new SeededRng(o.seed), both: o.faults });
  a.ifp.filters.add(fi);
  const up = bytes(o.size, 1);
  const down = bytes(o.size, 2);
  let server!: Socket;
  let atServer!: Sink;
  b.s.net
    .createServer((s) => {
      server = s;
      atServer = sink(s);
      s.end(down);
    })
    .listen(9000);
  await turns();
  const client = a.s.net.connect({ host: llText(b), port: 9000 });
  const atClient = sink(client);
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  client.end(up);
  const start = net.clock.now();
  for (let i = 0; i < 200_000 && !(atClient.ended && atServer?.ended); i++) {
    net.clock.advance(2);
    await turns(1);
  }
  return { net, a, b, fi, up, down, client, server, atClient, atServer, errors, ms: net.clock.now() - start };
}

test('2 MiB each way at once, 1% loss and 1% reordering both ways: byte-identical, recovered by fast retransmit', async (t) => {
  const r = await bulk({ faults: { loss: 0.01, reorder: 0.01 }, size: 2 * MiB, seed: 7 });
  t.deepEqual(r.errors, []);
  t.true(r.atServer.ended && r.atClient.ended, `finished in ${r.ms} virtual ms`);
  t.is(r.atServer.n, r.up.length);
  t.is(r.atClient.n, r.down.length);
  t.is(r.atServer.hash.digest('hex'), sha(r.up), 'client → server intact');
  t.is(r.atClient.hash.digest('hex'), sha(r.down), 'server → client intact');
  const f = r.fi.stats.c;
  t.true(f.lost > 20 && f.reordered > 20, `faults: ${f.lost} lost, ${f.reordered} reordered`);
  const ca = r.a.s.tcp.stats.c;
  const cb = r.b.s.tcp.stats.c;
  t.log(`virtual ${r.ms} ms; a: ${ca.fastRexmits} fast rexmits, ${ca.recoveries} recoveries, ${ca.rexmtTimeouts} RTOs, ${ca.sndRexmitPack} segs resent; b: ${cb.fastRexmits}/${cb.recoveries}/${cb.rexmtTimeouts}/${cb.sndRexmitPack}`);
  t.true(ca.recoveries > 0 && cb.recoveries > 0, 'both senders entered loss recovery');
  t.true(ca.fastRexmits > 0 && cb.fastRexmits > 0);
  t.true(ca.sndRexmitPack > 0 && cb.sndRexmitPack > 0);
  t.true(ca.rcvOooSegs > 0 && cb.rcvOooSegs > 0, 'receivers queued out-of-order segments');
  t.true(ca.fastRexmits + cb.fastRexmits > ca.rexmtTimeouts + cb.rexmtTimeouts, 'most losses repaired without waiting for the RTO');
  t.is(ca.rcvBadSum + cb.rcvBadSum, 0);
  t.is(ca.rcvOooFull + cb.rcvOooFull, 0, 'the reassembly queue never overflowed');
});

test('2 MiB each way with NewReno and no SACK nor timestamps, 1% loss and reordering: byte-identical', async (t) => {
  const r = await bulk({ faults: { loss: 0.01, reorder: 0.01 }, size: 2 * MiB, seed: 11, tcp: { cc: 'newreno', sack: false, timestamps: false } });
  t.deepEqual(r.errors, []);
  t.true(r.atServer.ended && r.atClient.ended, `finished in ${r.ms} virtual ms`);
  t.is(r.atServer.hash.digest('hex'), sha(r.up));
  t.is(r.atClient.hash.digest('hex'), sha(r.down));
  const ca = r.a.s.tcp.stats.c;
  const cb = r.b.s.tcp.stats.c;
  t.log(`virtual ${r.ms} ms; a: ${ca.fastRexmits}/${ca.recoveries}/${ca.rexmtTimeouts}/${ca.sndRexmitPack}; b: ${cb.fastRexmits}/${cb.recoveries}/${cb.rexmtTimeouts}/${cb.sndRexmitPack}`);
  t.true(ca.recoveries + cb.recoveries > 0);
  t.true(ca.sndRexmitPack > 0 && cb.sndRexmitPack > 0);
  t.false(r.a.s.tcp.connections().some((c) => c.sackOk || c.tsOk));
});

test('duplication and corruption: duplicates are absorbed, corrupted segments fail the checksum and are resent', async (t) => {
  const r = await bulk({ faults: { dup: 0.02, corrupt: 0.01 }, size: MiB / 2, seed: 3 });
  t.deepEqual(r.errors, []);
  t.is(r.atServer.hash.digest('hex'), sha(r.up));
  t.is(r.atClient.hash.digest('hex'), sha(r.down));
  const ca = r.a.s.tcp.stats.c;
  const cb = r.b.s.tcp.stats.c;
  t.true(ca.rcvBadSum + cb.rcvBadSum > 0, 'corruption caught by the checksum');
  t.true(ca.rcvDupBytes + cb.rcvDupBytes > 0, 'duplicates seen and dropped');
});

test('a clean link: 2 MiB each way without a single retransmission', async (t) => {
  const r = await bulk({ faults: {}, size: 2 * MiB, seed: 1 });
  t.is(r.atServer.hash.digest('hex'), sha(r.up));
  t.is(r.atClient.hash.digest('hex'), sha(r.down));
  const ca = r.a.s.tcp.stats.c;
  const cb = r.b.s.tcp.stats.c;
  t.is(ca.sndRexmitPack + cb.sndRexmitPack, 0);
  t.is(ca.rexmtTimeouts + cb.rexmtTimeouts, 0);
  t.is(ca.sndBytes, 2 * MiB);
  t.is(cb.sndBytes, 2 * MiB);
  t.is(ca.rcvBytes, 2 * MiB);
});

test('5% loss both ways, both sides sending: no deadlock when both retransmit (pure ACKs carry SND.MAX, not the pulled-back SND.NXT)', async (t) => {
  // Seeds that deadlocked when a pure ACK carried the rewound SND.NXT: each side had the other's
  // retransmitted bytes already, found the other's ACKs out of window and dropped them.
  for (const seed of [7, 9, 11]) {
    const r = await bulk({ faults: { loss: 0.05, reorder: 0.01 }, size: MiB, seed, tcp: { rcvBuf: 128 << 10 } });
    t.deepEqual(r.errors, []);
    t.true(r.atServer.ended && r.atClient.ended, `seed ${seed}: finished in ${r.ms} virtual ms`);
    t.is(r.atServer.hash.digest('hex'), sha(r.up));
    t.is(r.atClient.hash.digest('hex'), sha(r.down));
  }
});

test('RACK-TLP against RFC 6675 alone on the same seeded lossy link: fewer retransmission timeouts, same bytes', async (t) => {
  const rtos = { on: 0, off: 0 };
  for (const seed of [1, 3]) {
    for (const rack of [true, false]) {
      const r = await bulk({ faults: { loss: 0.05, reorder: 0.01 }, size: MiB, seed, tcp: { rack } });
      t.deepEqual(r.errors, []);
      t.is(r.atServer.hash.digest('hex'), sha(r.up));
      t.is(r.atClient.hash.digest('hex'), sha(r.down));
      const ca = r.a.s.tcp.stats.c;
      const cb = r.b.s.tcp.stats.c;
      const n = ca.rexmtTimeouts + cb.rexmtTimeouts;
      rtos[rack ? 'on' : 'off'] += n;
      if (rack) t.true(ca.rackLosses + cb.rackLosses > 0, 'RACK marked the losses');
      else t.is(ca.rackLosses + cb.rackLosses + ca.tlpProbes + cb.tlpProbes, 0);
      t.log(`seed ${seed} rack ${rack}: virtual ${r.ms} ms, ${n} RTOs, ${ca.sndRexmitPack + cb.sndRexmitPack} segs resent, ${ca.tlpProbes + cb.tlpProbes} probes, ${ca.spuriousRexmits + cb.spuriousRexmits} found spurious by D-SACK`);
    }
  }
  t.true(rtos.on < rtos.off, `RTOs: ${rtos.on} with RACK-TLP, ${rtos.off} without`);
});
