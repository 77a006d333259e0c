/** tap6 sysctl against an in-process daemon, and the name table on its own. */
import test from 'ava';
import { runClientCommand } from '../../tools/cli.ts';
import type { SysctlResult } from '../../tools/handlers.ts';
import { parseSysctlValue, selectOids, splitAssignment, sysctlOids } from '../../tools/sysctl.ts';
import { capture, rig } from './rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

test('sysctl with no name (or -a) prints every oid as "name: value", sorted', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['sysctl', '--ctl', r.path]);
  t.is(code, 0, io.errs.join('\n'));
  t.deepEqual(io.lines, [
    'net.inet6.icmp6.errburst: 10',
    'net.inet6.icmp6.errppslimit: 100',
    'net.inet6.ip6.accept_rtadv: 1',
    'net.inet6.ip6.dad_count: 0',
    'net.inet6.ip6.dad_disable_on_ll_dup: 1',
    'net.inet6.ip6.forwarding: 0',
    'net.inet6.ip6.hlim: 64',
    'net.inet6.ip6.ifid: stable',
    'net.inet6.ip6.maxfragpackets: 256',
    'net.inet6.ip6.maxfragsperpacket: 256',
    'net.inet6.ip6.optimistic_dad: 0',
    'net.inet6.ip6.pmtu_entries: 0',
    'net.inet6.ip6.use_tempaddr: 0',
    'net.inet6.ipsec6.ah_net_deflev: use',
    'net.inet6.ipsec6.ah_trans_deflev: use',
    'net.inet6.ipsec6.def_policy: none',
    'net.inet6.ipsec6.ecn: allowed',
    'net.inet6.ipsec6.esp_net_deflev: use',
    'net.inet6.ipsec6.esp_trans_deflev: use',
  ]);
  const all = await run(['sysctl', '-a', '--ctl', r.path]);
  t.deepEqual(all.io.lines, io.lines);
});

test('sysctl NAME reads one, a node reads what is below it; -n values only, -d descriptions', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  t.deepEqual((await run(['sysctl', 'net.inet6.ip6.hlim', '--ctl', r.path])).io.lines, ['net.inet6.ip6.hlim: 64']);
  t.deepEqual((await run(['sysctl', 'net.inet6.icmp6', '--ctl', r.path])).io.lines, ['net.inet6.icmp6.errburst: 10', 'net.inet6.icmp6.errppslimit: 100']);
  t.deepEqual((await run(['sysctl', '-n', 'net.inet6.ip6.ifid', 'net.inet6.ip6.forwarding', '--ctl', r.path])).io.lines, ['stable', '0']);
  const d = await run(['sysctl', '-d', 'net.inet6.ip6.dad_count', '--ctl', r.path]);
  t.deepEqual(d.io.lines, ['net.inet6.ip6.dad_count: DupAddrDetectTransmits: neighbor solicitations per duplicate address detection (every interface)']);
});

test('sysctl NAME=VALUE sets and prints "old -> new"; the stack follows', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run([
    'sysctl',
    'net.inet6.ip6.hlim=32',
    'net.inet6.ip6.use_tempaddr=1',
    'net.inet6.ip6.dad_count=3',
    'net.inet6.ip6.accept_rtadv=0',
    'net.inet6.ip6.optimistic_dad=1',
    'net.inet6.ip6.ifid=eui64',
    'net.inet6.ip6.dad_disable_on_ll_dup=0',
    'net.inet6.icmp6.errppslimit=5',
    'net.inet6.icmp6.errburst=2',
    'net.inet6.ip6.forwarding=1',
    'net.inet6.ip6.forwarding',
    '--ctl',
    r.path,
  ]);
  t.is(code, 0, io.errs.join('\n'));
  t.deepEqual(io.lines, [
    'net.inet6.ip6.hlim: 64 -> 32',
    'net.inet6.ip6.use_tempaddr: 0 -> 1',
    'net.inet6.ip6.dad_count: 0 -> 3',
    'net.inet6.ip6.accept_rtadv: 1 -> 0',
    'net.inet6.ip6.optimistic_dad: 0 -> 1',
    'net.inet6.ip6.ifid: stable -> eui64',
    'net.inet6.ip6.dad_disable_on_ll_dup: 1 -> 0',
    'net.inet6.icmp6.errppslimit: 100 -> 5',
    'net.inet6.icmp6.errburst: 10 -> 2',
    'net.inet6.ip6.forwarding: 0 -> 1',
    'net.inet6.ip6.forwarding: 1',
  ]);
  const a = r.a;
  t.is(a.ip6.defaultHopLimit, 32);
  t.is(a.ip6.if6Of(r.ifa)!.curHopLimit, 32);
  t.true(a.slaac.config.tempAddresses);
  t.true(a.ip6.preferTemporary);
  t.true(a.ip6.interfaces().every((st) => st.dadTransmits === 3));
  t.false(a.rtr.config(r.ifa).acceptRtadv);
  t.true(a.slaac.config.optimisticDad);
  t.is(a.slaac.config.ifid, 'eui64');
  t.false(a.ip6.disableOnLinkLocalDad);
  t.deepEqual(a.icmp6.rateLimit, { ratePerSec: 5, burst: 2 });
  t.true(a.ip6.forwarding);
  // Read back through the daemon: the defaults kept per interface read as set.
  t.deepEqual((await run(['sysctl', '-n', 'net.inet6.ip6.dad_count', 'net.inet6.ip6.accept_rtadv', '--ctl', r.path])).io.lines, ['3', '0']);
});

test('sysctl --json: entries with value, old value when set, writable and description', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['sysctl', '--json', 'net.inet6.ip6.hlim=100', 'net.inet6.ip6.maxfragpackets', 'net.inet6.ip6.ifid', '--ctl', r.path]);
  t.is(code, 0);
  const j = JSON.parse(io.text) as SysctlResult;
  t.deepEqual(
    j.entries.map(({ description, ...e }) => (t.true(description.length > 10), e)),
    [
      { name: 'net.inet6.ip6.hlim', value: 100, old: 64, writable: true },
      { name: 'net.inet6.ip6.maxfragpackets', value: 256, writable: false },
      { name: 'net.inet6.ip6.ifid', value: 'stable', writable: true },
    ],
  );
});

test('sysctl errors: unknown oid, bad values naming the range, read only; nothing is changed; exit 1', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], string][] = [
    [['x'], "tap6: sysctl: unknown oid 'x'"],
    [['net.inet6.ip6.bogus'], "tap6: sysctl: unknown oid 'net.inet6.ip6.bogus'"],
    [['net.inet6.ip6.bogus=1'], "tap6: sysctl: unknown oid 'net.inet6.ip6.bogus'"],
    [['net.inet6.ip6=1'], "tap6: sysctl: unknown oid 'net.inet6.ip6'"],
    [['net.inet6.ip6.hlim=0'], "tap6: sysctl: net.inet6.ip6.hlim: bad value '0' (an integer 1..255)"],
    [['net.inet6.ip6.hlim=256'], "tap6: sysctl: net.inet6.ip6.hlim: bad value '256' (an integer 1..255)"],
    [['net.inet6.ip6.dad_count=16'], "tap6: sysctl: net.inet6.ip6.dad_count: bad value '16' (an integer 0..15)"],
    [['net.inet6.ip6.forwarding=yes'], "tap6: sysctl: net.inet6.ip6.forwarding: bad value 'yes' (0 or 1)"],
    [['net.inet6.ip6.use_tempaddr=2'], "tap6: sysctl: net.inet6.ip6.use_tempaddr: bad value '2' (0 or 1)"],
    [['net.inet6.ip6.ifid=random'], "tap6: sysctl: net.inet6.ip6.ifid: bad value 'random' (stable or eui64)"],
    [['net.inet6.icmp6.errppslimit=-1'], "tap6: sysctl: net.inet6.icmp6.errppslimit: bad value '-1' (an integer 0..1000000)"],
    [['net.inet6.ip6.hlim='], "tap6: sysctl: net.inet6.ip6.hlim: bad value '' (an integer 1..255)"],
    [['net.inet6.ip6.maxfragpackets=10'], "tap6: sysctl: oid 'net.inet6.ip6.maxfragpackets' is read only"],
    [['net.inet6.ip6.hlim=10', 'net.inet6.ip6.forwarding=2'], "tap6: sysctl: net.inet6.ip6.forwarding: bad value '2' (0 or 1)"],
  ];
  for (const [argv, line] of cases) {
    const { code, io } = await run(['sysctl', '--ctl', r.path, ...argv]);
    t.is(code, 1, argv.join(' '));
    t.deepEqual(io.errs, [line]);
    t.deepEqual(io.lines, []);
  }
  t.is(r.a.ip6.defaultHopLimit, 64, 'a failed request changes nothing');
  t.false(r.a.ip6.forwarding);
  const usage = await run(['sysctl', '-a', 'net.inet6', '--ctl', r.path]);
  t.is(usage.code, 64);
  t.deepEqual(usage.io.errs, ['tap6: sysctl: -a takes no names', `usage: tap6 sysctl [-a | NAME[=VALUE] ...] [-n] [-d] [--ctl PATH] [--json]`]);
  t.is((await run(['sysctl', '=1', '--ctl', r.path])).code, 64);
  t.is((await run(['sysctl', '-q', '--ctl', r.path])).code, 64);
});

test('the name table: parse without a stack, select nodes, split assignments', (t) => {
  t.true(sysctlOids().length >= 13);
  t.deepEqual(parseSysctlValue('net.inet6.ip6.hlim', '7'), {
    ok: true,
    value: { oid: selectOids('net.inet6.ip6.hlim')[0]!, value: 7 },
  });
  t.like(parseSysctlValue('net.inet6.ip6.hlim', '07x'), { ok: false, error: "net.inet6.ip6.hlim: bad value '07x' (an integer 1..255)" });
  t.like(parseSysctlValue('net.inet6.ip6.hlim', '99999999999999'), { ok: false });
  t.like(parseSysctlValue('net.inet6.ip6.pmtu_entries', '1'), { ok: false, error: "oid 'net.inet6.ip6.pmtu_entries' is read only" });
  t.like(parseSysctlValue('nope', '1'), { ok: false, error: "unknown oid 'nope'" });
  t.deepEqual(
    selectOids('net.inet6.icmp6').map((o) => o.name),
    ['net.inet6.icmp6.errburst', 'net.inet6.icmp6.errppslimit'],
  );
  t.deepEqual(selectOids('net.inet6.ip'), [], 'a node is matched on whole labels');
  t.deepEqual(splitAssignment('a.b=c=d'), { ok: true, value: { name: 'a.b', value: 'c=d' } });
  t.like(splitAssignment('a.b'), { ok: false, error: "'a.b': expected NAME=VALUE" });
});
