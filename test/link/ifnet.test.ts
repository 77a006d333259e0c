import test from 'ava';
import { Pkt } from '../../src/core/pkt.ts';
import type { Dir, FrameFilter } from '../../src/link/driver.ts';
import { FilterChain, IFF, Ifnet, checkIfName, formatFlags, ifCounterDescriptions } from '../../src/link/ifnet.ts';
import { mcastMac } from '../helpers/link.ts';

/** A minimal concrete Ifnet: records what reaches the wire and lets tests push frames up. */
class TestIf extends Ifnet {
  readonly lladdr = null;
  readonly pcapLink = { linkType: 1, strip: 0 };
  readonly wire: Uint8Array[] = [];
  constructor(name = 'test0', mtu = 1500, range: readonly [number, number] = [1280, 9000]) {
    super(name, 'ether', mtu, IFF.MULTICAST, range);
  }
  output(pkt: Pkt, etherType: number): boolean {
    this.filters.tx(pkt.data());
    return this.deliver(etherType, pkt);
  }
  protected wireTx(frame: Uint8Array): void {
    this.wire.push(frame);
  }
  protected wireRx(frame: Uint8Array): void {
    this.deliver(0x86dd, Pkt.copyOf(frame));
  }
}

/** A filter that logs its name and direction, and can tag, drop or double frames. */
function tagger(name: string, log: string[], mode: 'pass' | 'drop' | 'twice' = 'pass'): FrameFilter & { closed: number } {
  const f = {
    name,
    closed: 0,
    filter(dir: Dir, frame: Uint8Array, next: (f: Uint8Array) => void) {
      log.push(`${dir}:${name}`);
      if (mode === 'drop') return;
      next(frame);
      if (mode === 'twice') next(frame);
    },
    close() {
      f.closed++;
    },
  };
  return f;
}

function chain(log: string[]) {
  const tx: Uint8Array[] = [];
  const rx: Uint8Array[] = [];
  const c = new FilterChain(
    (f) => {
      log.push('tx:wire');
      tx.push(f);
    },
    (f) => {
      log.push('rx:stack');
      rx.push(f);
    },
  );
  return { c, tx, rx };
}

test('an empty chain goes straight to the sinks', (t) => {
  const log: string[] = [];
  const { c, tx, rx } = chain(log);
  const f = new Uint8Array([1]);
  c.tx(f);
  c.rx(f);
  t.deepEqual(log, ['tx:wire', 'rx:stack']);
  t.is(tx[0], f);
  t.is(rx[0], f);
});

test('tx runs filters in insertion order, rx in reverse (last added nearest the wire)', (t) => {
  const log: string[] = [];
  const { c } = chain(log);
  c.add(tagger('a', log));
  c.add(tagger('b', log));
  c.add(tagger('c', log));
  t.deepEqual(
    c.list.map((f) => f.name),
    ['a', 'b', 'c'],
  );
  c.tx(new Uint8Array(1));
  t.deepEqual(log, ['tx:a', 'tx:b', 'tx:c', 'tx:wire']);
  log.length = 0;
  c.rx(new Uint8Array(1));
  t.deepEqual(log, ['rx:c', 'rx:b', 'rx:a', 'rx:stack']);
});

test('a filter may drop or pass a frame more than once', (t) => {
  const log: string[] = [];
  const { c, tx, rx } = chain(log);
  c.add(tagger('dup', log, 'twice'));
  c.tx(new Uint8Array(1));
  t.is(tx.length, 2);
  c.add(tagger('drop', log, 'drop'));
  log.length = 0;
  c.tx(new Uint8Array(1));
  t.deepEqual(log, ['tx:dup', 'tx:drop', 'tx:drop']);
  t.is(tx.length, 2);
  log.length = 0;
  c.rx(new Uint8Array(1));
  t.deepEqual(log, ['rx:drop']);
  t.is(rx.length, 0);
});

test('names are unique; remove closes the filter and rebuilds the chain', (t) => {
  const log: string[] = [];
  const { c } = chain(log);
  const a = tagger('a', log);
  const b = tagger('b', log);
  c.add(a);
  c.add(b);
  t.throws(() => c.add(tagger('a', log)), { message: /already attached/ });
  t.true(c.remove('a'));
  t.is(a.closed, 1);
  t.is(b.closed, 0);
  t.false(c.remove('a'));
  t.is(a.closed, 1);
  c.tx(new Uint8Array(1));
  t.deepEqual(log, ['tx:b', 'tx:wire']);
  // The name is free again.
  c.add(tagger('a', log));
  log.length = 0;
  c.rx(new Uint8Array(1));
  t.deepEqual(log, ['rx:a', 'rx:b', 'rx:stack']);
});

test('clear closes every filter once and empties the chain', (t) => {
  const log: string[] = [];
  const { c } = chain(log);
  const fs = [tagger('a', log), tagger('b', log)];
  for (const f of fs) c.add(f);
  c.clear();
  t.deepEqual(
    fs.map((f) => f.closed),
    [1, 1],
  );
  t.is(c.list.length, 0);
  c.tx(new Uint8Array(1));
  t.deepEqual(log, ['tx:wire']);
});

test('filters without close() can be removed', (t) => {
  const { c } = chain([]);
  c.add({ name: 'plain', filter: (_d, f, next) => next(f) });
  t.true(c.remove('plain'));
  c.add({ name: 'plain', filter: (_d, f, next) => next(f) });
  t.notThrows(() => c.clear());
});

test('interface names: 1-15 characters, a letter first', (t) => {
  for (const ok of ['a', 'tap0', 'lo0', 'eth0.100', 'br-lan_1', 'abcdefghijklmno']) t.is(checkIfName(ok), null, ok);
  for (const bad of ['', '0tap', 'abcdefghijklmnop', 'tap 0', 'tap/0', 'tap%0', '-x', 'täp']) t.regex(checkIfName(bad) ?? '', /bad interface name/, bad);
  t.throws(() => new TestIf('9lives'), { message: /bad interface name '9lives'/ });
});

test('MTU must be an integer within the range, at construction and later', (t) => {
  t.throws(() => new TestIf('t0', 1279), { instanceOf: RangeError, message: /MTU 1279 out of range 1280\.\.9000/ });
  t.throws(() => new TestIf('t0', 9001), { instanceOf: RangeError });
  const ifp = new TestIf('t0', 1280);
  t.is(ifp.mtu, 1280);
  ifp.mtu = 9000;
  t.is(ifp.mtu, 9000);
  for (const bad of [1279, 9001, 1500.5, NaN, Infinity, -1]) {
    t.throws(() => {
      ifp.mtu = bad;
    }, { instanceOf: RangeError });
  }
  t.is(ifp.mtu, 9000);
  t.deepEqual(ifp.mtuRange, [1280, 9000]);
});

test('flags: setUp sets and clears UP and RUNNING only', (t) => {
  const ifp = new TestIf();
  t.false(ifp.up);
  ifp.setUp(true);
  t.true(ifp.up);
  t.is(ifp.flags, IFF.MULTICAST | IFF.UP | IFF.RUNNING);
  ifp.setUp(false);
  t.false(ifp.up);
  t.is(ifp.flags, IFF.MULTICAST);
  t.is(formatFlags(IFF.UP | IFF.RUNNING | IFF.MULTICAST), 'flags=8041<UP,RUNNING,MULTICAST>');
  t.is(formatFlags(0), 'flags=0<>');
});

test('counters start at zero, one per description', (t) => {
  const ifp = new TestIf('cnt0');
  t.is(ifp.stats.name, 'if cnt0');
  t.deepEqual(ifp.stats.keys, Object.keys(ifCounterDescriptions()));
  t.is(ifp.stats.sum(), 0);
});

test('multicast groups are reference counted', (t) => {
  const ifp = new TestIf();
  const g = mcastMac(0xff, 0, 0, 1);
  const h = mcastMac(0, 0, 0, 1);
  t.false(ifp.inMulti(g));
  ifp.addMulti(g);
  ifp.addMulti(g);
  ifp.addMulti(h);
  t.true(ifp.inMulti(g));
  t.deepEqual(
    ifp.multiList().map((e) => e.refs),
    [2, 1],
  );
  t.true(ifp.delMulti(g));
  t.true(ifp.inMulti(g), 'still joined once');
  t.true(ifp.delMulti(g));
  t.false(ifp.inMulti(g));
  t.false(ifp.delMulti(g), 'not joined any more');
  t.true(ifp.inMulti(h));
  t.is(ifp.multiList().length, 1);
});

test('addMulti keeps its own copy of the MAC; inMulti reads at an offset', (t) => {
  const ifp = new TestIf();
  const g = mcastMac(1, 2, 3, 4);
  ifp.addMulti(g);
  g[5] = 99;
  t.true(ifp.inMulti(mcastMac(1, 2, 3, 4)));
  t.deepEqual([...ifp.multiList()[0]!.mac], [...mcastMac(1, 2, 3, 4)]);
  const f = new Uint8Array(20);
  f.set(mcastMac(1, 2, 3, 4), 8);
  t.true(ifp.inMulti(f, 8));
  t.false(ifp.inMulti(f, 7));
});

test('attachProto: one handler per EtherType; detach frees it; deliver counts rxNoProto', (t) => {
  const ifp = new TestIf();
  const seen: number[] = [];
  ifp.attachProto(0x86dd, (i, p) => {
    t.is(i, ifp);
    seen.push(p.len);
  });
  t.throws(() => ifp.attachProto(0x86dd, () => {}), { message: /already attached/ });
  t.true(ifp.output(Pkt.alloc(3), 0x86dd));
  t.false(ifp.output(Pkt.alloc(3), 0x0800));
  t.is(ifp.stats.c.rxNoProto, 1);
  ifp.detachProto(0x86dd);
  t.false(ifp.output(Pkt.alloc(3), 0x86dd));
  t.is(ifp.stats.c.rxNoProto, 2);
  t.deepEqual(seen, [3]);
  ifp.attachProto(0x86dd, () => {});
});

test('the interface wires its FilterChain to wireTx / wireRx; close() brings it down and closes the filters', (t) => {
  const ifp = new TestIf();
  const log: string[] = [];
  const f = tagger('f', log);
  ifp.filters.add(f);
  const got: number[] = [];
  ifp.attachProto(0x86dd, (_i, p) => got.push(p.len));
  ifp.setUp(true);
  ifp.filters.rx(new Uint8Array(7));
  ifp.output(Pkt.alloc(5), 0x86dd);
  t.deepEqual(log, ['rx:f', 'tx:f']);
  t.is(ifp.wire.length, 1);
  t.deepEqual(got, [7, 5]);
  ifp.close();
  t.false(ifp.up);
  t.is(f.closed, 1);
  t.is(ifp.filters.list.length, 0);
  ifp.close();
  t.is(f.closed, 1, 'close is idempotent');
});
