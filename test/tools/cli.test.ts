/**
 * The client commands against an in-process daemon: a stack on a virtual
 * link with a peer stack, its control server on a temporary socket.
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { runClientCommand } from '../../tools/cli.ts';
import { controlHandlers } from '../../tools/handlers.ts';
import type { IfconfigResult, NdpResult, NetstatResult, RouteResult } from '../../tools/handlers.ts';
import { capture, rig } from './rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

test('ifconfig prints every interface BSD-style: flags, ether, inet6 with prefixlen and scopeid', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ifconfig', '--ctl', r.path]);
  t.is(code, 0);
  t.deepEqual(io.errs, []);
  t.deepEqual(io.lines, [
    'lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 131072',
    '\tinet6 ::1 prefixlen 128',
    '\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1',
    'tap0: flags=8043<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500',
    '\tether 02:00:00:00:00:01',
    '\tinet6 fe80::ff:fe00:1%tap0 prefixlen 64 scopeid 0x2',
  ]);
});

test('ifconfig IF --json gives the raw result: addresses, flags, scope ids, groups, ND variables', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ifconfig', 'tap0', '--json', '--ctl', r.path]);
  t.is(code, 0);
  const res = JSON.parse(io.text) as IfconfigResult;
  t.is(res.interfaces.length, 1);
  const i = res.interfaces[0]!;
  t.like(i, { name: 'tap0', index: 2, type: 'ether', flags: 0x8043, mtu: 1500, ether: '02:00:00:00:00:01' });
  t.deepEqual(i.flagNames, ['UP', 'BROADCAST', 'RUNNING', 'MULTICAST']);
  t.deepEqual(i.addrs, [
    { addr: 'fe80::ff:fe00:1', text: 'fe80::ff:fe00:1%tap0', plen: 64, flags: 0, flagNames: [], scopeid: 2, pltime: null, vltime: null },
  ]);
  t.true(i.groups.includes('ff02::1%tap0'));
  t.true(i.groups.includes('ff02::1:ff00:1%tap0'));
  t.like(i.nd, { curHopLimit: 64, dadTransmits: 0 });
});

test('ifconfig of an unknown interface: one line, exit 1', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ifconfig', 'tap9', '--ctl', r.path]);
  t.is(code, 1);
  t.deepEqual(io.errs, ['tap6: ifconfig: tap9: no such interface']);
  t.deepEqual(io.lines, []);
});

test('ifconfig IF inet6 ADDR/PLEN adds an address with its routes; -alias removes it', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  let res = await run(['ifconfig', 'tap0', 'inet6', '2001:db8::1/64', 'pltime', '100', 'vltime', '200', '--ctl', r.path]);
  t.is(res.code, 0);
  t.deepEqual(res.io.errs, []);
  res = await run(['ifconfig', 'tap0', 'inet6', '2001:db8:1::1', 'prefixlen', '48', 'alias', '--ctl', r.path]);
  t.is(res.code, 0);
  res = await run(['ifconfig', 'tap0', '--ctl', r.path]);
  t.true(res.io.lines.includes('\tinet6 2001:db8::1 prefixlen 64 pltime 100 vltime 200'), res.io.text);
  t.true(res.io.lines.includes('\tinet6 2001:db8:1::1 prefixlen 48'), res.io.text);
  res = await run(['route', '--json', '--ctl', r.path]);
  const routes = (JSON.parse(res.io.text) as RouteResult).routes.map((x) => `${x.destination} ${x.gateway} ${x.flagNames} ${x.netif}`);
  t.true(routes.includes('2001:db8::/64 link#2 UC tap0'), routes.join('\n'));
  t.true(routes.includes('2001:db8::1 link#1 UHl lo0'), routes.join('\n'));

  res = await run(['ifconfig', 'tap0', 'inet6', '2001:db8::1', '-alias', '--ctl', r.path]);
  t.is(res.code, 0);
  res = await run(['ifconfig', 'tap0', '--ctl', r.path]);
  t.false(res.io.text.includes('2001:db8::1 '), res.io.text);
  t.true(res.io.text.includes('2001:db8:1::1'));
  res = await run(['route', '--ctl', r.path]);
  t.false(/^2001:db8::\/64 /m.test(res.io.text), res.io.text);
});

test('ifconfig address errors: bad address, bad prefix length, duplicate, not configured, unknown interface', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], number, string][] = [
    [['tap0', 'inet6', '2001:db8::zz/64'], 1, 'tap6: ifconfig: 2001:db8::zz/64: not an IPv6 address'],
    [['tap0', 'inet6', '2001:db8::1/129'], 1, "tap6: ifconfig: 2001:db8::1/129: bad prefix length '129' (0..128)"],
    [['tap0', 'inet6', 'fe80::2%veth7/64'], 1, "tap6: ifconfig: fe80::2%veth7/64: zone 'veth7' is not interface tap0"],
    [['tap0', 'inet6', 'ff02::5/64'], 1, 'tap6: ifconfig: ff02::5 cannot be an interface address'],
    [['tap0', 'inet6', '2001:db8::7', '-alias'], 1, 'tap6: ifconfig: 2001:db8::7 is not configured on tap0'],
    [['tap9', 'inet6', '2001:db8::1/64'], 1, 'tap6: ifconfig: tap9: no such interface'],
    [['tap0', 'inet', '192.0.2.1/24'], 64, "tap6: ifconfig: address family 'inet' is not supported (only inet6)"],
    [['tap0', 'inet6'], 64, 'tap6: ifconfig: inet6 needs an address, e.g. 2001:db8::1/64'],
    [['tap0', 'inet6', '2001:db8::1/64', 'frobnicate'], 64, "tap6: ifconfig: unknown word 'frobnicate'"],
    [['--bogus'], 64, "tap6: ifconfig: unknown option '--bogus'"],
  ];
  for (const [argv, want, line] of cases) {
    const { code, io } = await run(['ifconfig', ...argv, '--ctl', r.path]);
    t.is(code, want, argv.join(' '));
    t.is(io.errs[0], line, argv.join(' '));
    t.is(io.lines.length, 0);
  }
  t.is((await run(['ifconfig', 'tap0', 'inet6', '2001:db8::1/64', '--ctl', r.path])).code, 0);
  const dup = await run(['ifconfig', 'tap0', 'inet6', '2001:db8::1/64', '--ctl', r.path]);
  t.is(dup.code, 1);
  t.regex(dup.io.errs[0]!, /^tap6: ifconfig: 2001:db8::1 already configured on tap0: File exists$/);
});

test('ifconfig IF impair SPEC: the link loses what the spec says; ifconfig shows it, netstat -s -p faults counts; -impair removes it', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  let res = await run(['ifconfig', 'tap0', 'impair', 'tx.loss=100%,rx.dup=1%,delay=1ms', '--ctl', r.path]);
  t.is(res.code, 0, res.io.errs.join('\n'));
  t.deepEqual(res.io.lines, [], 'quiet on success');
  res = await run(['ifconfig', 'tap0', '--ctl', r.path]);
  t.is(res.io.lines.at(-1), '\timpair tx.loss=100%,rx.dup=1%,delay=1ms', res.io.text);
  const ping = await run(['ping6', '-c', '3', '-i', '0.02', '-W', '0.2', '--ctl', r.path, r.peer]);
  t.is(ping.code, 1, 'every request is lost on the way out');
  t.regex(ping.io.text, /3 packets transmitted, 0 received, 100% packet loss/);
  const j = JSON.parse((await run(['ifconfig', 'tap0', '--json', '--ctl', r.path])).io.text) as IfconfigResult;
  const imp = j.interfaces[0]!.impair!;
  t.is(imp.spec, 'tx.loss=100%,rx.dup=1%,delay=1ms');
  t.true(Number.isInteger(imp.seed));
  t.true(imp.counters['lost']! > 0, JSON.stringify(imp));
  t.is(imp.counters['lost'], r.a.impairment('tap0')!.injector.stats.c.lost);
  const ns = await run(['netstat', '-s', '-p', 'faults', '--ctl', r.path]);
  t.is(ns.code, 0);
  t.is(ns.io.lines[0], 'faults tap0:');
  t.true(ns.io.lines.includes(`\t${imp.counters['lost']} frames dropped (loss)`), ns.io.text);
  t.is(r.a.impairment('lo0'), undefined, 'one interface only');

  // A new spec replaces the old one; the counters go on.
  res = await run(['ifconfig', 'tap0', 'impair', 'loss=0', '--json', '--ctl', r.path]);
  t.is(res.code, 0);
  t.like(JSON.parse(res.io.text), { ifname: 'tap0', impair: { spec: '' } });
  t.regex((await run(['ifconfig', 'tap0', '--ctl', r.path])).io.text, /\timpair \(none\)$/);
  const ok = await run(['ping6', '-c', '2', '-i', '0.02', '-W', '2', '--ctl', r.path, r.peer]);
  t.is(ok.code, 0, ok.io.text);

  res = await run(['ifconfig', 'tap0', '-impair', '--json', '--ctl', r.path]);
  t.is(res.code, 0);
  t.deepEqual(JSON.parse(res.io.text), { ifname: 'tap0', impair: null });
  t.false((await run(['ifconfig', 'tap0', '--ctl', r.path])).io.text.includes('impair'));
  t.is((await run(['netstat', '-s', '-p', 'faults', '--ctl', r.path])).code, 1, 'no injector, no faults counters');
  t.is((await run(['ifconfig', 'tap0', '-impair', '--ctl', r.path])).code, 0, 'removing twice is harmless');
});

test('ifconfig impair errors: bad or missing spec and extra words are usage errors (64) before the daemon is asked; unknown interface exits 1', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], number, string][] = [
    [['tap0', 'impair'], 64, 'tap6: ifconfig: impair needs a spec, e.g. loss=2%,reorder=5%,dup=1%,delay=5ms'],
    [['tap0', 'impair', 'loss=2'], 64, "tap6: ifconfig: impair: 'loss' must be at most 1 (or 100%), got 2"],
    [['tap0', 'impair', 'lose=2%'], 64, "tap6: ifconfig: impair: unknown impairment 'lose': one of loss, dup, reorder, corrupt, delay, jitter, hold"],
    [['tap0', 'impair', 'loss=2%,', 'delay=5ms'], 64, "tap6: ifconfig: unknown word 'delay=5ms' (one spec, comma-separated, no spaces)"],
    [['tap0', '-impair', 'loss=2%'], 64, "tap6: ifconfig: -impair takes no value, got 'loss=2%'"],
    [['tap9', 'impair', 'loss=2%'], 1, 'tap6: ifconfig: tap9: no such interface'],
    [['tap9', '-impair'], 1, 'tap6: ifconfig: tap9: no such interface'],
  ];
  for (const [argv, want, line] of cases) {
    const { code, io } = await run(['ifconfig', ...argv, '--ctl', r.path]);
    t.is(code, want, argv.join(' '));
    t.is(io.errs[0], line, argv.join(' '));
  }
  t.is(r.a.impairment('tap0'), undefined, 'nothing was set');
});

test('the impair command on the control socket checks its arguments', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const h = controlHandlers(r.a);
  const ctx = {} as Parameters<(typeof h)['impair']>[1];
  t.throws(() => h['impair']!({ ifname: 'tap0' }, ctx), { message: "'spec' is required (null removes the impairment)" });
  t.throws(() => h['impair']!({ spec: 'loss=1%' }, ctx), { message: "'ifname' is required" });
  t.throws(() => h['impair']!({ ifname: 'tap0', spec: 5 }, ctx), { message: "'spec' must be a string" });
  t.throws(() => h['impair']!({ ifname: 'tap0', spec: 'loss=7' }, ctx), { message: /'loss' must be at most 1/ });
  t.like(h['impair']!({ ifname: 'tap0', spec: 'dup=1%' }, ctx), { ifname: 'tap0', impair: { spec: 'dup=1%' } });
});

test('ping6 to the peer: iputils output, exit 0; then ndp -a shows it and netstat -s counts the echoes', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ping6', '-c', '3', '-i', '0.02', '-W', '2', '--ctl', r.path, r.peer]);
  t.is(code, 0, io.errs.join('\n'));
  t.is(io.lines[0], `PING ${r.peer}(${r.peer}) 56 data bytes`);
  for (let seq = 1; seq <= 3; seq++) {
    t.true(
      io.lines.some((l) => new RegExp(`^64 bytes from ${r.peer.replace(/\./g, '\\.')}: icmp_seq=${seq} ttl=64 time=[0-9.]+ ms$`).test(l)),
      io.text,
    );
  }
  const i = io.lines.indexOf(`--- ${r.peer} ping statistics ---`);
  t.true(i > 0, io.text);
  t.is(io.lines[i - 1], '');
  t.regex(io.lines[i + 1]!, /^3 packets transmitted, 3 received, 0% packet loss, time [0-9]+ms$/);
  t.regex(io.lines[i + 2]!, /^rtt min\/avg\/max\/mdev = [0-9]+\.[0-9]{3}\/[0-9]+\.[0-9]{3}\/[0-9]+\.[0-9]{3}\/[0-9]+\.[0-9]{3} ms$/);

  const ndp = await run(['ndp', '-a', '--ctl', r.path]);
  t.is(ndp.code, 0);
  t.regex(ndp.io.lines[0]!, /^Neighbor +Linklayer Address +Netif +Expire +S +Flags$/);
  const row = ndp.io.lines.find((l) => l.startsWith(r.peer));
  t.truthy(row, ndp.io.text);
  t.regex(row!, /^fe80::ff:fe00:2%tap0 +02:00:00:00:00:02 +tap0 +[0-9]+s +R$/);
  const nj = JSON.parse((await run(['ndp', '-a', '--json', '--ctl', r.path])).io.text) as NdpResult;
  t.like(nj.neighbors.find((n) => n.text === r.peer), { lladdr: '02:00:00:00:00:02', state: 'REACHABLE', isRouter: false, ifname: 'tap0', zone: 2 });

  const ns = await run(['netstat', '-s', '-p', 'icmp6', '--ctl', r.path]);
  t.is(ns.code, 0);
  t.is(ns.io.lines[0], 'icmp6:');
  t.true(ns.io.lines.includes('\t3 echo replies matched to a request'), ns.io.text);
  const out = ns.io.lines.indexOf('\tOutput histogram:');
  const inp = ns.io.lines.indexOf('\tInput histogram:');
  t.true(out > 0 && inp > out, ns.io.text);
  t.true(ns.io.lines.slice(out, inp).includes('\t\techo: 3'), ns.io.text);
  t.true(ns.io.lines.slice(inp).includes('\t\techo reply: 3'), ns.io.text);
  const peerCounted = r.b.icmp6.stats.c.echoReplies;
  t.is(peerCounted, 3);
});

test('netstat -s prints every counter set by protocol; -z adds zero counters; -p if selects interfaces; --json is structured', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const all = await run(['netstat', '-s', '--ctl', r.path]);
  t.is(all.code, 0);
  for (const h of ['ip6:', 'icmp6:', 'nd6:', 'if lo0:', 'if tap0:']) t.true(all.io.lines.includes(h), `${h}\n${all.io.text}`);
  t.false(all.io.lines.some((l) => /^\t0 /.test(l)), 'zero counters are left out');
  const z = await run(['netstat', '-s', '-z', '-p', 'nd6', '--ctl', r.path]);
  t.true(z.io.lines.includes('\t0 duplicate addresses detected'), z.io.text);
  const ifs = await run(['netstat', '-s', '-p', 'if', '--ctl', r.path]);
  t.deepEqual(
    ifs.io.lines.filter((l) => !l.startsWith('\t')),
    ['if lo0:', 'if tap0:'],
  );
  const j = JSON.parse((await run(['netstat', '-s', '--json', '--ctl', r.path])).io.text) as NetstatResult;
  const icmp = j.sets.find((s) => s.name === 'icmp6')!;
  t.truthy(icmp.histograms);
  t.true(icmp.counters.some((c) => c.name === 'inMsgs' && c.description === 'messages received'));
  const bad = await run(['netstat', '-s', '-p', 'ipx', '--ctl', r.path]);
  t.is(bad.code, 1);
  t.regex(bad.io.errs[0]!, /^tap6: netstat: unknown protocol 'ipx' \(known: .*icmp6.*\)$/);
  const usage = await run(['netstat', '-s', '-r', '--ctl', r.path]);
  t.is(usage.code, 64);
  t.is(usage.io.errs[0], 'tap6: netstat: -s and -r cannot be combined');
});

test('netstat with no flag lists the open sockets, BSD style; --json too', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const s = r.a.dgram.createSocket('udp6');
  t.teardown(() => s.close());
  await new Promise<void>((res) => s.bind(5353, () => res()));
  const c = r.a.dgram.createSocket('udp6');
  t.teardown(() => c.close());
  c.connect(9, '::1');
  await new Promise((res) => c.once('connect', res));
  const out = await run(['netstat', '--ctl', r.path]);
  t.is(out.code, 0);
  t.is(out.io.lines[0], 'Active Internet connections (including servers)');
  t.regex(out.io.lines[1]!, /^Proto +Recv-Q +Send-Q +Local Address +Foreign Address +\(state\)$/);
  t.regex(out.io.text, /udp6\s+0\s+0\s+\*\.5353\s+\*\.\*/);
  t.regex(out.io.text, /udp6\s+0\s+0\s+\*\.\d+\s+::1\.9/);
  const j = JSON.parse((await run(['netstat', '--json', '--ctl', r.path])).io.text) as { sockets: { proto: string; local: string }[] };
  t.true(j.sockets.some((x) => x.proto === 'udp6' && x.local === '*.5353'));
});

test('route lists the link-local prefixes as connected routes and our addresses as local routes', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['route', '--ctl', r.path]);
  t.is(code, 0);
  t.deepEqual(io.lines.slice(0, 3), ['Routing tables', '', 'Internet6:']);
  t.regex(io.lines[3]!, /^Destination +Gateway +Flags +Netif +Expire +Use$/);
  t.false(io.lines.includes('Path MTU cache:'), 'an empty cache is not shown');
  const rows = io.lines.slice(4).map((l) => l.split(/ +/));
  t.deepEqual(
    rows.find((c) => c[0] === 'fe80::%tap0/64'),
    ['fe80::%tap0/64', 'link#2', 'UC', 'tap0', '0'],
  );
  t.deepEqual(
    rows.find((c) => c[0] === '::1'),
    ['::1', 'link#1', 'UHl', 'lo0', '0'],
  );
  const nr = await run(['netstat', '-rn', '--ctl', r.path]);
  t.deepEqual(nr.io.lines, io.lines);
});

test('route shows an Mtu column when a route carries one, and the Path MTU cache as its own section; --json', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const gw = r.b.ip6.if6Of(r.ifb)!.linkLocal()!.addr;
  r.a.ip6.routes.add({ dst: in6('2001:db8:9::'), plen: 48, gateway: gw, ifindex: r.ifa.index, origin: 'static', mtu: 1400 });
  r.a.ip6.pmtu.update(in6('2001:db8:9::77'), 0, 1300, 1500);
  r.a.ip6.pmtu.update(in6('fe80::5'), r.ifa.index, 1280, 1500);
  const { code, io } = await run(['route', '--ctl', r.path]);
  t.is(code, 0);
  t.regex(io.lines[3]!, /^Destination +Gateway +Flags +Mtu +Netif +Expire +Use$/);
  const row = io.lines.find((l) => l.startsWith('2001:db8:9::/48'));
  t.regex(row!, /^2001:db8:9::\/48 +fe80::ff:fe00:2%tap0 +UGS? +1400 +tap0 +0$/);
  t.regex(io.lines.find((l) => l.startsWith('::1 '))!, /^::1 +link#1 +UHl +lo0 +0$/, 'no Mtu of its own: blank');
  const i = io.lines.indexOf('Path MTU cache:');
  t.true(i > 4, io.text);
  t.is(io.lines[i - 1], '');
  const cache = io.lines.slice(i + 1);
  t.is(cache.length, 3, io.text);
  t.is(cache[0], 'Destination     Mtu Expire');
  t.regex(cache[1]!, /^2001:db8:9::77 1300 +(10m0s|9m5[0-9]s)$/);
  t.regex(cache[2]!, /^fe80::5%tap0   1280 +(10m0s|9m5[0-9]s)$/);
  const j = JSON.parse((await run(['netstat', '-r', '--json', '--ctl', r.path])).io.text) as RouteResult;
  t.like(j.routes.find((x) => x.destination === '2001:db8:9::/48'), { mtu: 1400, origin: 'static' });
  t.deepEqual(
    j.pmtu.map(({ expire, ...e }) => (t.true(expire > 590 && expire <= 600), e)),
    [
      { destination: '2001:db8:9::77', dst: '2001:db8:9::77', zone: 0, mtu: 1300 },
      { destination: 'fe80::5%tap0', dst: 'fe80::5', zone: 2, mtu: 1280 },
    ],
  );
  const nr = await run(['netstat', '-rn', '--ctl', r.path]);
  t.deepEqual(nr.io.lines, io.lines);
  t.deepEqual((await run(['sysctl', 'net.inet6.ip6.pmtu_entries', '--ctl', r.path])).io.lines, ['net.inet6.ip6.pmtu_entries: 2']);
});

test('ping6 to an address nobody has: timeouts, 100% loss, exit 1', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ping6', '-c', '2', '-i', '0.02', '-W', '0.15', '--ctl', r.path, 'fe80::99%tap0']);
  t.is(code, 1);
  t.deepEqual(io.lines.slice(0, 3), ['PING fe80::99%tap0(fe80::99%tap0) 56 data bytes', 'Request timeout for icmp_seq 1', 'Request timeout for icmp_seq 2']);
  t.regex(io.text, /\n2 packets transmitted, 0 received, 100% packet loss, time [0-9]+ms$/);
  t.false(io.text.includes('rtt min'));
});

test('ping6 errors: missing zone, bad address, no route, unknown -I: one line each, exit 2', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], string][] = [
    [['fe80::1'], 'tap6: ping6: fe80::1: a link-local address needs a zone, e.g. fe80::1%tap0'],
    [['2001:db8::zz'], "tap6: ping6: '2001:db8::zz' is not an IPv6 address"],
    [['fe80::1%tap7'], "tap6: ping6: fe80::1%tap7: no such interface 'tap7'"],
    [['-I', 'tap9', 'fe80::1'], 'tap6: ping6: tap9: no such interface'],
    [['2001:db8::5'], 'tap6: ping6: 2001:db8::5: Network is unreachable'],
  ];
  for (const [argv, line] of cases) {
    const { code, io } = await run(['ping6', '-c', '1', '--ctl', r.path, ...argv]);
    t.is(code, 2, argv.join(' '));
    t.is(io.errs.length, 1, io.errs.join('\n'));
    t.is(io.errs[0], line);
    t.false(io.text.includes('statistics'));
  }
  const withIf = await run(['ping6', '-c', '1', '-i', '0.01', '-W', '2', '-I', 'tap0', '--ctl', r.path, r.peer.replace(/%tap0$/, '')]);
  t.is(withIf.code, 0, withIf.io.errs.join('\n'));
});

test('ping6 usage errors exit 64', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], string][] = [
    [[], 'tap6: ping6: missing destination'],
    [['-c', 'x', r.peer], "tap6: ping6: -c: expected an integer in 1..1000000000, got 'x'"],
    [['-c', '0', r.peer], "tap6: ping6: -c: expected an integer in 1..1000000000, got '0'"],
    [['-s', '1.5', r.peer], "tap6: ping6: -s: expected an integer in 0..16777216, got '1.5'"],
    [['-t', '256', r.peer], "tap6: ping6: -t: expected an integer in 1..255, got '256'"],
    [['-q', r.peer], "tap6: ping6: Unknown option '-q'"],
    [[r.peer, 'extra'], `tap6: ping6: one destination only, got ${r.peer} extra`],
  ];
  for (const [argv, line] of cases) {
    const { code, io } = await run(['ping6', '--ctl', r.path, ...argv]);
    t.is(code, 64, argv.join(' '));
    t.is(io.errs[0], line);
    t.regex(io.errs[1]!, /^usage: tap6 ping6 /);
  }
});

test('ping6 without -c runs until interrupted, then prints the summary so far', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const ac = new AbortController();
  const io = capture({ signal: ac.signal });
  const p = run(['ping6', '-i', '0.02', '--ctl', r.path, r.peer], io);
  // Interrupt once two replies are in (bounded: a loaded machine may take a while).
  for (let i = 0; i < 500 && io.lines.filter((l) => / bytes from /.test(l)).length < 2; i++) await new Promise((res) => setTimeout(res, 10));
  ac.abort();
  const { code } = await p;
  t.is(code, 0, io.text + io.errs.join('\n'));
  const m = /\n([0-9]+) packets transmitted, ([0-9]+) received, /.exec(io.text);
  t.truthy(m, io.text);
  t.true(Number(m![1]) >= 2);
  t.true(Number(m![2]) >= 1);
  t.true(io.text.includes('rtt min/avg/max/mdev = '));
  // The client hung up; the daemon forgets the connection (and its ping, already cancelled).
  for (let i = 0; i < 50 && r.server.clients > 0; i++) await new Promise((res) => setTimeout(res, 10));
  t.is(r.server.clients, 0);
});

test('ping6 -s sets the data size and the header shows it', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ping6', '-c', '1', '-s', '100', '-W', '2', '--ctl', r.path, r.peer]);
  t.is(code, 0);
  t.is(io.lines[0], `PING ${r.peer}(${r.peer}) 100 data bytes`);
  t.regex(io.lines[1]!, /^108 bytes from /);
});

test('no daemon: the client says how to start one', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const empty = `${r.dir}/empty`;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(empty);
  for (const cmd of ['ifconfig', 'ndp', 'route']) {
    const { code, io } = await run([cmd], capture({ ctlDir: empty }));
    t.is(code, 1);
    t.deepEqual(io.errs, [`tap6: no daemon running (no control socket in ${empty}); start one with: tap6 up --tap NAME`]);
  }
  const ping = await run(['ping6', 'fe80::1%tap0'], capture({ ctlDir: empty }));
  t.is(ping.code, 2);
  // The only socket in the directory is found without --ctl.
  const found = await run(['ifconfig', 'lo0'], capture({ ctlDir: r.dir }));
  t.is(found.code, 0, found.io.errs.join('\n'));
  t.is(found.io.lines[0], 'lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 131072');
});
