import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { EtherIf } from '../../src/link/ethernet.ts';
import { IfnetTable } from '../../src/link/iftable.ts';
import { LoopbackIf } from '../../src/link/loopback.ts';
import { CaptureDriver, mac } from '../helpers/link.ts';

function eth(name: string, n = 1): EtherIf {
  return new EtherIf({ name, driver: new CaptureDriver(), mac: mac(n) });
}

test('indexes start at 1 and follow attach order', (t) => {
  const tab = new IfnetTable();
  const lo = new LoopbackIf({ clock: new VirtualClock() });
  const a = eth('tap0');
  const b = eth('tap1');
  t.is(lo.index, 0);
  t.is(tab.attach(lo), 1);
  t.is(tab.attach(a), 2);
  t.is(tab.attach(b), 3);
  t.is(lo.index, 1);
  t.is(b.index, 3);
  t.is(tab.size, 3);
  t.deepEqual(
    tab.list().map((i) => i.name),
    ['lo0', 'tap0', 'tap1'],
  );
});

test('lookup by index, by name, and by name-or-index text (zone ids)', (t) => {
  const tab = new IfnetTable();
  const a = eth('tap0');
  const b = eth('tap1');
  tab.attach(a);
  tab.attach(b);
  t.is(tab.get(1), a);
  t.is(tab.get(2), b);
  t.is(tab.get(0), undefined);
  t.is(tab.get(3), undefined);
  t.is(tab.byname('tap1'), b);
  t.is(tab.byname('tap9'), undefined);
  t.is(tab.lookup('tap0'), a);
  t.is(tab.lookup('2'), b);
  t.is(tab.lookup('0'), undefined);
  t.is(tab.lookup('99999999999999999999'), undefined);
  t.is(tab.lookup(''), undefined);
  t.is(tab.lookup('-1'), undefined);
});

test('attach refuses a second attach, a taken name, and more than the maximum', (t) => {
  const tab = new IfnetTable(2);
  const a = eth('tap0');
  tab.attach(a);
  t.throws(() => tab.attach(a), { message: /already attached as index 1/ });
  t.throws(() => tab.attach(eth('tap0', 2)), { message: /tap0 already exists/ });
  tab.attach(eth('tap1'));
  const c = eth('tap2');
  t.throws(() => tab.attach(c), { message: /too many interfaces \(at most 2\)/ });
  t.is(c.index, 0, 'a refused interface keeps index 0');
  t.is(tab.size, 2);
});

test('detach frees the name and a slot, but never reuses an index', (t) => {
  const tab = new IfnetTable(2);
  const a = eth('tap0');
  const b = eth('tap1');
  tab.attach(a);
  tab.attach(b);
  tab.detach(a);
  t.is(tab.get(1), undefined);
  t.is(tab.byname('tap0'), undefined);
  t.is(tab.size, 1);
  const a2 = eth('tap0');
  t.is(tab.attach(a2), 3);
  t.is(tab.lookup('1'), undefined, 'a stale zone index names nothing');
  t.deepEqual(
    tab.list().map((i) => i.index),
    [2, 3],
  );
});

test('detach of an interface that is not in the table is harmless', (t) => {
  const tab = new IfnetTable();
  const a = eth('tap0');
  const other = new IfnetTable();
  other.attach(a);
  const b = eth('tap0');
  tab.attach(b);
  // Same index (1) and name in the other table: must not remove b.
  tab.detach(a);
  t.is(tab.get(1), b);
  t.is(tab.byname('tap0'), b);
  tab.detach(eth('tap5'));
  t.is(tab.size, 1);
});
