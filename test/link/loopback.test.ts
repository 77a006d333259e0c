import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { Pkt, PktFlag } from '../../src/core/pkt.ts';
import { EtherType } from '../../src/link/ether.ts';
import { IFF } from '../../src/link/ifnet.ts';
import { IfnetTable } from '../../src/link/iftable.ts';
import { LOOPBACK_DEFAULT_MTU, LOOPBACK_MTU_RANGE, LOOP_HDR_LEN, LoopbackIf, type LoopbackOptions } from '../../src/link/loopback.ts';
import { StepClock, ip6Payload, pktOf, recordIp6 } from '../helpers/link.ts';

function lo0(opts: Partial<LoopbackOptions> = {}) {
  const clock = new VirtualClock();
  const lo = new LoopbackIf({ clock, ...opts });
  new IfnetTable().attach(lo);
  lo.setUp(true);
  const v6 = recordIp6(lo, EtherType.IPV6);
  const v4 = recordIp6(lo, EtherType.IPV4);
  return { clock: (opts.clock as VirtualClock | undefined) ?? clock, lo, v6, v4 };
}

function v4Payload(len: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  return p;
}

test('defaults: lo0, no link address, LOOPBACK|MULTICAST, MTU 131072', (t) => {
  const lo = new LoopbackIf({ clock: new VirtualClock() });
  t.is(lo.name, 'lo0');
  t.is(lo.type, 'loop');
  t.is(lo.lladdr, null);
  t.is(lo.flags, IFF.LOOPBACK | IFF.MULTICAST);
  t.is(lo.mtu, LOOPBACK_DEFAULT_MTU);
  t.is(lo.mtu, 131072);
});

test('output is delivered on the next clock tick, never synchronously', (t) => {
  const { clock, lo, v6 } = lo0();
  const payload = ip6Payload(48);
  t.true(lo.output(pktOf(payload), EtherType.IPV6, null));
  t.is(v6.length, 0);
  t.is(lo.queueLength, 1);
  t.is(clock.advance(0), 1);
  t.is(v6.length, 1);
  t.is(lo.queueLength, 0);
  const d = v6[0]!;
  t.deepEqual([...d.data], [...payload]);
  t.is(d.pkt.rcvif, lo.index);
  t.is(d.pkt.rcvif, 1);
  t.is(d.pkt.flags, PktFlag.LOOP);
  t.is(d.pkt.sndif, lo.index, 'a packet without an origin comes back from lo0 itself');
  t.is(d.ifp, lo);
  // Both directions count the 4-byte private header.
  t.like(lo.stats.c, { opackets: 1, obytes: 52, ipackets: 1, ibytes: 52 });
  t.is(clock.pendingTimers, 0);
});

test('order is preserved, and one timer serves a burst', (t) => {
  const { clock, lo, v6 } = lo0();
  for (let i = 0; i < 50; i++) lo.output(pktOf(ip6Payload(40, i)), EtherType.IPV6, null);
  t.is(clock.pendingTimers, 1);
  clock.advance(0);
  t.deepEqual(
    v6.map((d) => d.data[1]),
    Array.from({ length: 50 }, (_, i) => (1 + i) & 0xff),
  );
});

test("lo0's private header: origin ifindex and EtherType, dispatch on the EtherType", (t) => {
  const { clock, lo, v6, v4 } = lo0();
  t.is(LOOP_HDR_LEN, 4);
  const wire: number[][] = [];
  lo.filters.add({
    name: 'spy',
    filter(dir, f, next) {
      if (dir === 'tx') wire.push([...f.subarray(0, 6)]);
      next(f);
    },
  });
  const p = pktOf(ip6Payload(40));
  p.sndif = 0x0307;
  lo.output(p, EtherType.IPV6, null);
  lo.output(pktOf(v4Payload(20)), EtherType.IPV4, null);
  // The EtherType given to output rules, not the version nibble.
  lo.output(pktOf(v4Payload(20)), EtherType.IPV6, null);
  lo.output(Pkt.alloc(0), EtherType.IPV6, null);
  t.deepEqual(wire, [
    [0x03, 0x07, 0x86, 0xdd, 0x60, 0x01],
    [0x00, 0x01, 0x08, 0x00, 0x45, 0x00],
    [0x00, 0x01, 0x86, 0xdd, 0x45, 0x00],
    [0x00, 0x01, 0x86, 0xdd],
  ]);
  clock.advance(0);
  t.is(v6.length, 3);
  t.is(v4.length, 1);
  t.is(v6[0]!.pkt.sndif, 0x0307, 'the origin interface survives the loop (the zone of the packet)');
  t.is(v6[0]!.pkt.rcvif, lo.index);
  t.deepEqual([...v6[0]!.data], [...ip6Payload(40)]);
  t.is(v6[1]!.data[0], 0x45);
  t.is(v6[2]!.pkt.len, 0);
  t.is(lo.stats.sum((k) => k.startsWith('rx')), 0);
});

test('input: shorter than the private header is rxShort; an unattached EtherType is rxNoProto', (t) => {
  const { lo, v6 } = lo0();
  for (let n = 0; n < LOOP_HDR_LEN; n++) lo.filters.rx(new Uint8Array([0, 1, 0x86, 0xdd].slice(0, n)));
  lo.filters.rx(new Uint8Array([0, 1, 0x12, 0x34, 0x60]));
  lo.filters.rx(new Uint8Array([0, 1, 0x86, 0xdd, 0x60]));
  t.like(lo.stats.c, { rxShort: 4, rxNoProto: 1, ipackets: 6, ibytes: 0 + 1 + 2 + 3 + 5 + 5 });
  t.is(v6.length, 1);
  t.is(v6[0]!.pkt.len, 1);
});

test('an EtherType with no attached protocol is rxNoProto', (t) => {
  const clock = new VirtualClock();
  const lo = new LoopbackIf({ clock });
  lo.setUp(true);
  lo.output(pktOf(v4Payload(20)), EtherType.IPV4, null);
  clock.advance(0);
  t.is(lo.stats.c.rxNoProto, 1);
});

test('output refuses other network protocols (txNoProto), oversize (txTooBig) and when down (txDown)', (t) => {
  const { clock, lo, v6 } = lo0();
  t.false(lo.output(pktOf(ip6Payload(40)), EtherType.ARP, null));
  t.false(lo.output(pktOf(ip6Payload(131073)), EtherType.IPV6, null));
  t.true(lo.output(pktOf(ip6Payload(131072)), EtherType.IPV6, null));
  lo.setUp(false);
  t.false(lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null));
  t.like(lo.stats.c, { txNoProto: 1, txTooBig: 1, txDown: 1, opackets: 1, obytes: 131072 + 4 });
  // Went down with a packet queued: it is dropped at input.
  clock.advance(0);
  t.is(v6.length, 0);
  t.like(lo.stats.c, { rxDown: 1, ipackets: 0 });
});

test('the queue is bounded in packets: overflow counts qdrops and txDriverDrop', (t) => {
  const { clock, lo, v6 } = lo0({ queuePackets: 3 });
  for (let i = 0; i < 5; i++) t.true(lo.output(pktOf(ip6Payload(40, i)), EtherType.IPV6, null));
  t.is(lo.queueLength, 3);
  t.is(lo.qdrops, 2);
  t.is(lo.stats.c.txDriverDrop, 2);
  t.is(lo.stats.c.opackets, 5);
  clock.advance(0);
  t.deepEqual(
    v6.map((d) => d.data[1]),
    [1, 2, 3],
  );
  // Drained: room again.
  for (let i = 0; i < 3; i++) lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null);
  t.is(lo.qdrops, 2);
});

test('the queue is bounded in bytes, and the byte count is returned on drain', (t) => {
  // Each packet takes its length plus the 4-byte private header.
  const { clock, lo, v6 } = lo0({ queueBytes: 100 });
  lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null);
  lo.output(pktOf(ip6Payload(52)), EtherType.IPV6, null);
  lo.output(pktOf(ip6Payload(1)), EtherType.IPV6, null);
  t.is(lo.qdrops, 1);
  t.is(lo.queueLength, 2);
  clock.advance(0);
  t.is(v6.length, 2);
  lo.output(pktOf(ip6Payload(96)), EtherType.IPV6, null);
  t.is(lo.qdrops, 1, 'a full 100 bytes fits once the queue drained');
  clock.advance(0);
  t.is(v6.length, 3);
});

test('packets looped by an input handler wait for the next tick', (t) => {
  const clock = new StepClock();
  const lo = new LoopbackIf({ clock });
  lo.setUp(true);
  const order: string[] = [];
  lo.attachProto(EtherType.IPV6, (ifp, p) => {
    const tag = String.fromCharCode(p.data()[1]!);
    order.push(tag);
    if (tag === 'A') {
      const reply = ip6Payload(40);
      reply[1] = 'C'.charCodeAt(0);
      ifp.output(pktOf(reply), EtherType.IPV6, null);
    }
  });
  for (const tag of 'AB') {
    const p = ip6Payload(40);
    p[1] = tag.charCodeAt(0);
    lo.output(pktOf(p), EtherType.IPV6, null);
  }
  t.is(clock.tick(), 1);
  t.deepEqual(order, ['A', 'B']);
  t.is(lo.queueLength, 1);
  t.is(clock.armed, 1);
  t.is(clock.tick(), 1);
  t.deepEqual(order, ['A', 'B', 'C']);
  t.is(clock.armed, 0);
});

test('a handler that loops forever costs one packet per tick, not a hang', (t) => {
  const clock = new StepClock();
  const lo = new LoopbackIf({ clock });
  lo.setUp(true);
  let n = 0;
  lo.attachProto(EtherType.IPV6, (ifp, p) => {
    n++;
    ifp.output(p, EtherType.IPV6, null);
  });
  lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null);
  for (let i = 1; i <= 10; i++) {
    clock.tick();
    t.is(n, i);
  }
});

test('the delivered Pkt shares the sender buffer and keeps its headroom (no copy, no realloc on reply)', (t) => {
  const { clock, lo, v6 } = lo0();
  const p = pktOf(ip6Payload(40));
  lo.output(p, EtherType.IPV6, null);
  clock.advance(0);
  const d = v6[0]!.pkt;
  t.is(d.buf.buffer, p.buf.buffer);
  t.is(d.headroom, 128);
  const before = Pkt.reallocs;
  d.prepend(40 + 8);
  t.is(Pkt.reallocs, before);
});

test('MTU may exceed 65535 for jumbograms (RFC 2675), within 1280..1 GiB', (t) => {
  const { clock, lo, v6 } = lo0({ mtu: 100_000 });
  t.is(lo.mtu, 100_000);
  lo.output(pktOf(ip6Payload(70_000)), EtherType.IPV6, null);
  clock.advance(0);
  t.is(v6.length, 1);
  t.is(v6[0]!.pkt.len, 70_000);
  lo.mtu = LOOPBACK_MTU_RANGE[1];
  t.is(lo.mtu, 1 << 30);
  t.throws(() => {
    lo.mtu = (1 << 30) + 1;
  }, { instanceOf: RangeError });
  t.throws(() => {
    lo.mtu = 1279;
  }, { instanceOf: RangeError });
  t.throws(() => new LoopbackIf({ clock, mtu: 1000 }), { instanceOf: RangeError });
});

test('close cancels the pending tick and drops the queue', (t) => {
  const { clock, lo, v6 } = lo0();
  lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null);
  lo.close();
  t.is(lo.queueLength, 0);
  t.is(clock.pendingTimers, 0);
  clock.advance(10);
  t.is(v6.length, 0);
  t.false(lo.up);
});

test('closing lo0 from inside an input handler stops the drain without throwing', (t) => {
  const { clock, lo, v6 } = lo0();
  lo.detachProto(EtherType.IPV6);
  const seen: number[] = [];
  lo.attachProto(EtherType.IPV6, (ifp, p) => {
    seen.push(p.data()[1]!);
    ifp.close();
  });
  for (let i = 0; i < 3; i++) lo.output(pktOf(ip6Payload(40, i)), EtherType.IPV6, null);
  t.notThrows(() => clock.advance(0));
  t.deepEqual(seen, [1]);
  t.is(lo.queueLength, 0);
  t.is(v6.length, 0);
  // Brought back up, it works again.
  lo.setUp(true);
  lo.output(pktOf(ip6Payload(40, 9)), EtherType.IPV6, null);
  clock.advance(0);
  t.deepEqual(seen, [1, 10]);
});

test('filters on lo0 see the packet leave and come back', (t) => {
  const { clock, lo, v6 } = lo0();
  const seen: string[] = [];
  lo.filters.add({
    name: 'spy',
    filter(dir, f, next) {
      seen.push(`${dir}:${Buffer.from(f.subarray(0, 5)).toString('hex')}:${f.length}`);
      next(f);
    },
  });
  lo.output(pktOf(ip6Payload(40)), EtherType.IPV6, null);
  t.deepEqual(seen, ['tx:000186dd60:44']);
  clock.advance(0);
  t.deepEqual(seen, ['tx:000186dd60:44', 'rx:000186dd60:44']);
  t.is(v6.length, 1);
});
