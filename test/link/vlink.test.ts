import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { EtherType } from '../../src/link/ether.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { VirtualLink, type VirtualLinkOptions, type VirtualPort } from '../../src/link/vlink.ts';
import { BCAST, StepClock, frame, ip6Payload, mac, pktOf, rig } from '../helpers/link.ts';

interface Heard {
  at: number;
  bytes: Uint8Array;
}

/** A link with `n` raw ports, each recording (copies of) what it hears and when. */
function raw(n: number, opts: Partial<VirtualLinkOptions> = {}) {
  const clock = new VirtualClock();
  const link = new VirtualLink({ clock, ...opts });
  const ports: VirtualPort[] = [];
  const heard: Heard[][] = [];
  for (let i = 0; i < n; i++) {
    const p = link.port();
    const h: Heard[] = [];
    p.setReceiver((f) => h.push({ at: clock.now(), bytes: f.slice() }));
    ports.push(p);
    heard.push(h);
  }
  return { clock, link, ports, heard };
}

const f1 = () => frame({ dst: BCAST, src: mac(1), payload: ip6Payload(40) });

test('ports: labels, maxFrameLen from the link MTU, kind', (t) => {
  const { link, ports } = raw(2, { mtu: 9000, name: 'lan' });
  t.is(ports[0]!.label, 'lan.0');
  t.is(ports[1]!.label, 'lan.1');
  t.is(link.port('uplink').label, 'uplink');
  t.is(ports[0]!.maxFrameLen, 9014);
  t.is(ports[0]!.kind, 'vlink');
  t.is(link.portCount, 3);
});

test('bad options are refused', (t) => {
  const clock = new VirtualClock();
  t.throws(() => new VirtualLink({ clock, latencyMs: -1 }), { instanceOf: RangeError });
  t.throws(() => new VirtualLink({ clock, latencyMs: NaN }), { instanceOf: RangeError });
  t.throws(() => new VirtualLink({ clock, mtu: 67 }), { instanceOf: RangeError });
  t.throws(() => new VirtualLink({ clock, mtu: 1500.5 }), { instanceOf: RangeError });
});

test('a frame reaches every other port, not the sender, only from the clock', (t) => {
  const { clock, link, ports, heard } = raw(4);
  const f = f1();
  t.true(ports[1]!.transmit(f));
  t.is(link.inFlight, 1);
  t.deepEqual(
    heard.map((h) => h.length),
    [0, 0, 0, 0],
  );
  clock.advance(0);
  t.deepEqual(
    heard.map((h) => h.length),
    [1, 0, 1, 1],
  );
  for (const i of [0, 2, 3]) t.deepEqual([...heard[i]![0]!.bytes], [...f]);
  t.like(link.stats.c, { frames: 1, deliveries: 3, portDown: 0 });
  t.is(link.inFlight, 0);
  t.is(clock.pendingTimers, 0);
});

test('latency is respected for each frame, and FIFO order is kept', (t) => {
  const { clock, ports, heard } = raw(2, { latencyMs: 5 });
  ports[0]!.transmit(frame({ dst: BCAST, src: mac(1), payload: ip6Payload(40, 1) }));
  clock.advance(1);
  ports[0]!.transmit(frame({ dst: BCAST, src: mac(1), payload: ip6Payload(40, 2) }));
  ports[0]!.transmit(frame({ dst: BCAST, src: mac(1), payload: ip6Payload(40, 3) }));
  clock.advance(3.999);
  t.is(heard[1]!.length, 0);
  clock.advance(0.001);
  t.is(heard[1]!.length, 1);
  t.is(heard[1]![0]!.at, 5);
  clock.advance(0.999);
  t.is(heard[1]!.length, 1);
  clock.advance(0.001);
  t.deepEqual(
    heard[1]!.map((h) => [h.at, h.bytes[15]]),
    [
      [5, 2],
      [6, 3],
      [6, 4],
    ],
  );
});

test('fractional latency never stalls delivery', (t) => {
  const { clock, ports, heard } = raw(2, { latencyMs: 0.1 });
  for (let i = 0; i < 100; i++) {
    ports[0]!.transmit(f1());
    clock.advance(0.07);
  }
  clock.advance(1);
  t.is(heard[1]!.length, 100);
  t.true(heard[1]!.every((h, i) => h.at >= i * 0.07 + 0.1 - 1e-9));
});

test('frames longer than the link MTU are dropped and counted', (t) => {
  const { clock, link, ports, heard } = raw(2, { mtu: 1500 });
  t.false(ports[0]!.transmit(new Uint8Array(1515)));
  t.true(ports[0]!.transmit(new Uint8Array(1514)));
  clock.advance(0);
  t.is(heard[1]!.length, 1);
  t.like(link.stats.c, { oversize: 1, frames: 1 });
});

test('too many frames in flight: overflow counted, and the EtherIf counts txDriverDrop', (t) => {
  const { clock, link, ifs, got } = rig(2, { maxInFlight: 3 });
  const [a, b] = ifs as [EtherIf, EtherIf];
  for (let i = 0; i < 5; i++) a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  t.is(link.inFlight, 3);
  t.is(link.stats.c.overflow, 2);
  t.is(a.stats.c.txDriverDrop, 2);
  clock.advance(0);
  t.is(got[1]!.length, 3);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  t.is(link.stats.c.overflow, 2, 'room again after delivery');
});

test('a closed port neither sends nor receives and leaves the link; close is idempotent', (t) => {
  const { clock, link, ports, heard } = raw(3);
  ports[0]!.transmit(f1());
  ports[2]!.close();
  ports[2]!.close();
  t.is(link.portCount, 2);
  t.false(ports[2]!.transmit(f1()));
  clock.advance(0);
  t.deepEqual(
    heard.map((h) => h.length),
    [0, 1, 0],
  );
  t.like(link.stats.c, { deliveries: 1, portDown: 0 });
  // A frame in flight from a port that closes is still delivered to the others.
  ports[0]!.transmit(f1());
  ports[0]!.close();
  clock.advance(0);
  t.is(heard[1]!.length, 2);
});

test('an unplugged port neither sends nor receives (portDown), and works again when plugged back', (t) => {
  const { clock, link, ports, heard } = raw(2);
  ports[1]!.connected = false;
  t.false(ports[1]!.transmit(f1()));
  ports[0]!.transmit(f1());
  clock.advance(0);
  t.is(heard[1]!.length, 0);
  t.like(link.stats.c, { portDown: 1, deliveries: 0, frames: 1 });
  ports[1]!.connected = true;
  ports[0]!.transmit(f1());
  t.true(ports[1]!.transmit(f1()));
  clock.advance(0);
  t.is(heard[1]!.length, 1);
  t.is(heard[0]!.length, 1);
});

test('a port without a receiver counts portDown; batchEnd runs after each delivery', (t) => {
  const { clock, link, ports } = raw(1);
  const silent = link.port();
  let ends = 0;
  const order: string[] = [];
  ports[0]!.setReceiver(() => order.push('rx'));
  ports[0]!.setBatchEnd(() => {
    ends++;
    order.push('end');
  });
  silent.transmit(f1());
  silent.transmit(f1());
  ports[0]!.transmit(f1());
  clock.advance(0);
  t.is(ends, 2);
  t.deepEqual(order, ['rx', 'end', 'rx', 'end']);
  t.is(link.stats.c.portDown, 1);
  ports[0]!.setBatchEnd(null);
  silent.transmit(f1());
  clock.advance(0);
  t.is(ends, 2);
});

test('a receiver that transmits from its callback is not re-entered; its frame waits for the next tick', (t) => {
  const clock = new StepClock();
  const link = new VirtualLink({ clock });
  const a = link.port();
  const b = link.port();
  let depth = 0;
  let maxDepth = 0;
  const log: string[] = [];
  const echo = (name: string, port: VirtualPort) => (f: Uint8Array) => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    const n = f[0]!;
    log.push(`${name}${n}`);
    if (n < 6) port.transmit(new Uint8Array([n + 1, ...f.subarray(1)]));
    depth--;
  };
  a.setReceiver(echo('a', a));
  b.setReceiver(echo('b', b));
  a.transmit(new Uint8Array(60));
  t.deepEqual(log, []);
  for (let i = 1; i <= 7; i++) {
    clock.tick();
    t.is(log.length, i, `one hop per tick (tick ${i})`);
  }
  t.deepEqual(log, ['b0', 'a1', 'b2', 'a3', 'b4', 'a5', 'b6']);
  t.is(maxDepth, 1);
  t.is(clock.armed, 0);
});

test('with a VirtualClock a zero-latency exchange completes in one advance(0), each hop from its own timer', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  let depth = 0;
  let maxDepth = 0;
  for (const [me, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    me.detachProto(EtherType.IPV6);
    me.attachProto(EtherType.IPV6, (_i, p) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      const d = p.data();
      if (d[1]! < 20) {
        d[1]!++;
        me.output(p, EtherType.IPV6, peer.lladdr);
      }
      depth--;
    });
  }
  const first = ip6Payload(40);
  first[1] = 0;
  a.output(pktOf(first), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(maxDepth, 1);
  t.is(a.stats.c.ipackets + b.stats.c.ipackets, 21);
  t.is(clock.pendingTimers, 0);
  t.deepEqual(got, [[], []]);
});

test('latency applies to replies sent from a receive callback; no stray timers are left', (t) => {
  const { clock, link, ports, heard } = raw(2, { latencyMs: 5 });
  const times: number[] = [];
  ports[1]!.setReceiver((f) => {
    times.push(clock.now());
    if (f[0]! < 3) ports[1]!.transmit(new Uint8Array([f[0]! + 1, ...f.subarray(1)]));
  });
  ports[0]!.setReceiver((f) => {
    heard[0]!.push({ at: clock.now(), bytes: f.slice() });
    ports[0]!.transmit(new Uint8Array([f[0]! + 1, ...f.subarray(1)]));
  });
  ports[0]!.transmit(new Uint8Array(60));
  clock.advance(5);
  t.deepEqual(times, [5]);
  t.is(clock.pendingTimers, 1, 'one timer for the one frame in flight');
  clock.advance(100);
  t.deepEqual(times, [5, 15, 25]);
  t.deepEqual(
    heard[0]!.map((h) => h.at),
    [10, 20],
  );
  t.is(link.inFlight, 0);
  t.is(clock.pendingTimers, 0);
});

test('frames are borrowed: every receiver gets the same bytes even if one of them scribbles on its copy', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b] = ifs as [EtherIf, EtherIf, EtherIf];
  b.detachProto(EtherType.IPV6);
  b.attachProto(EtherType.IPV6, (_i, p) => p.data().fill(0));
  const payload = ip6Payload(100);
  a.output(pktOf(payload), EtherType.IPV6, BCAST);
  clock.advance(0);
  t.deepEqual([...got[2]![0]!.data], [...payload]);
});

test('a port added while frames are in flight hears them', (t) => {
  const { clock, link, ports } = raw(1, { latencyMs: 1 });
  ports[0]!.transmit(f1());
  const late = link.port();
  let n = 0;
  late.setReceiver(() => n++);
  clock.advance(1);
  t.is(n, 1);
});
