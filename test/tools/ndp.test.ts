/**
 * ndp -r, -p, -i and rtsol against an in-process daemon that hears a
 * Router Advertisement from a raw port on its link.
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { runClientCommand } from '../../tools/cli.ts';
import type { NdIfResult, NdpPrefixesResult, NdpRoutersResult, RtsolResult } from '../../tools/handlers.ts';
import { RawRouter, dnsslOption, until } from './raw.ts';
import { type Rig, capture, rig } from './rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

/** The rig's daemon, after an RA: router fe80::1 (high, O), two prefixes, an MTU, RDNSS and DNSSL. */
async function advertised(t: { teardown(fn: () => Promise<void>): void }): Promise<{ r: Rig; router: RawRouter }> {
  const r = await rig();
  t.teardown(() => r.close());
  // EUI-64 identifiers so the addresses are known: MAC 02:00:00:00:00:01 gives ::ff:fe00:1.
  r.a.slaac.config.ifid = 'eui64';
  const router = new RawRouter(r.link);
  router.advertise(
    {
      routerLifetime: 1800,
      preference: 1,
      other: true,
      curHopLimit: 60,
      reachableTime: 20_000,
      retransTimer: 1500,
      mtu: 1480,
      prefixes: [
        { prefix: in6('2001:db8:1::'), plen: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 1800 },
        { prefix: in6('2001:db8:2::'), plen: 64, onLink: false, autonomous: true, validLifetime: 7200, preferredLifetime: 3600 },
        { prefix: in6('2001:db8:3::'), plen: 48, onLink: true, autonomous: false, validLifetime: 0xffffffff, preferredLifetime: 0xffffffff },
      ],
      rdnss: [{ lifetime: 600, servers: [in6('2001:db8::53')] }],
    },
    dnsslOption(600, ['example.com']),
  );
  await until(() => r.a.rtr.routerList().length > 0 && r.a.slaac.addresses().length === 2 && r.a.rtr.dns().length === 2);
  return { r, router };
}

/** Lifetimes tick: "29m59s" and "30m0s" are both fine just after the RA. */
const near = (s: number) => `(${s}|${s - 1}|${s - 2})`;

test('ndp -r lists the default router BSD-style: address%zone, if, M/O flags, preference, expire; --json', async (t) => {
  const { r } = await advertised(t);
  const { code, io } = await run(['ndp', '-r', '--ctl', r.path]);
  t.is(code, 0, io.errs.join('\n'));
  t.is(io.lines.length, 1);
  t.regex(io.lines[0]!, /^fe80::1%tap0 if=tap0, flags=O, pref=high, expire=(30m0s|29m5[0-9]s)$/);
  const j = JSON.parse((await run(['ndp', '-r', '--json', '--ctl', r.path])).io.text) as NdpRoutersResult;
  t.is(j.routers.length, 1);
  const { expire, ...rest } = j.routers[0]!;
  t.deepEqual(rest, { addr: 'fe80::1', text: 'fe80::1%tap0', ifname: 'tap0', preference: 'high', managed: false, other: true });
  t.regex(String(expire), new RegExp(`^${near(1800)}$`));
});

test('ndp -p lists prefixes with L/A flags, expiry, and the addresses formed from each; --json', async (t) => {
  const { r } = await advertised(t);
  const { code, io } = await run(['ndp', '-p', '--ctl', r.path]);
  t.is(code, 0, io.errs.join('\n'));
  const text = io.text.replace(/[0-9]+(h|m)?[0-9]*(m)?[0-9]*s\b/g, 'T');
  t.is(
    text,
    [
      '2001:db8:1::/64 if=tap0',
      'flags=LA, expire=T',
      '  autoconfigured addresses:',
      '    2001:db8:1::ff:fe00:1 autoconf, pltime=T, vltime=T',
      '2001:db8:3::/48 if=tap0',
      'flags=L, expire=infinity',
      '  No addresses formed',
      '2001:db8:2::/64 if=tap0',
      'flags=A, expire=T',
      '  autoconfigured addresses:',
      '    2001:db8:2::ff:fe00:1 autoconf, pltime=T, vltime=T',
    ].join('\n'),
  );
  t.regex(io.lines[1]!, /^flags=LA, expire=(1h0m0s|59m5[0-9]s)$/);
  const j = JSON.parse((await run(['ndp', '-p', '--json', '--ctl', r.path])).io.text) as NdpPrefixesResult;
  t.deepEqual(
    j.prefixes.map((p) => [p.prefix, p.ifname, p.onLink, p.autonomous, p.addresses.map((a) => a.text)]),
    [
      ['2001:db8:1::/64', 'tap0', true, true, ['2001:db8:1::ff:fe00:1']],
      ['2001:db8:3::/48', 'tap0', true, false, []],
      ['2001:db8:2::/64', 'tap0', false, true, ['2001:db8:2::ff:fe00:1']],
    ],
  );
  const p2 = j.prefixes[2]!;
  t.regex(String(p2.expire), new RegExp(`^${near(7200)}$`), 'an A-only prefix lasts as long as its addresses');
  t.like(p2.addresses[0], { temporary: false, flagNames: ['autoconf'] });
  t.is(j.prefixes[1]!.expire, null);
});

test('ndp -i IF: ND variables learned from the RA, flags, RDNSS/DNSSL; -accept_rtadv and accept_rtadv switch the flag', async (t) => {
  const { r } = await advertised(t);
  const { code, io } = await run(['ndp', '-i', 'tap0', '--ctl', r.path]);
  t.is(code, 0, io.errs.join('\n'));
  t.regex(io.lines[0]!, /^curhlim=60, reachable=(1[0-9]|2[0-9]|30)s, basereachable=20s, retrans=1500ms, dad_count=0, linkmtu=1480$/);
  t.deepEqual(io.lines.slice(1).map((l) => l.replace(/expire=.*/, 'expire=T')), ['Flags: accept_rtadv', 'RDNSS: 2001:db8::53 expire=T', 'DNSSL: example.com expire=T']);
  t.regex(io.lines[2]!, /expire=(10m0s|9m5[0-9]s)$/);

  const off = await run(['ndp', '-i', 'tap0', '-accept_rtadv', '--ctl', r.path]);
  t.is(off.code, 0);
  t.is(off.io.lines[1], 'Flags:');
  t.false(r.a.rtr.config(r.ifa).acceptRtadv);
  const j = JSON.parse((await run(['ndp', '-i', 'tap0', 'accept_rtadv', '--json', '--ctl', r.path])).io.text) as NdIfResult;
  t.true(r.a.rtr.config(r.ifa).acceptRtadv);
  t.like(j, { ifname: 'tap0', index: 2, curHopLimit: 60, baseReachableTime: 20_000, retransTimer: 1500, dadTransmits: 0, linkMtu: 1480, acceptRtadv: true, disabled: false, flags: ['accept_rtadv'] });
  t.deepEqual(
    j.dns.map((d) => [d.kind, d.value]),
    [
      ['rdnss', '2001:db8::53'],
      ['dnssl', 'example.com'],
    ],
  );
});

test('ndp -i on a fresh interface: defaults, no DNS lines', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ndp', '-i', 'tap0', '--ctl', r.path]);
  t.is(code, 0);
  t.regex(io.lines[0]!, /^curhlim=64, reachable=[0-9]+s, basereachable=30s, retrans=1000ms, dad_count=0, linkmtu=1500$/);
  t.deepEqual(io.lines.slice(1), ['Flags: accept_rtadv']);
});

test('ndp usage and errors', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const cases: [string[], number, string][] = [
    [['-r', '-p'], 64, 'tap6: ndp: choose one of -a, -r, -p, -i IF'],
    [['-i'], 64, 'tap6: ndp: -i needs an interface'],
    [['-accept_rtadv'], 64, "tap6: ndp: '-accept_rtadv' goes after -i IF"],
    [['-i', 'tap0', 'frob'], 64, "tap6: ndp: unknown word 'frob'"],
    [['-x'], 64, "tap6: ndp: Unknown option '-x'"],
    [['-i', 'tap9'], 1, 'tap6: ndp: tap9: no such interface'],
  ];
  for (const [argv, want, line] of cases) {
    const { code, io } = await run(['ndp', '--ctl', r.path, ...argv]);
    t.is(code, want, argv.join(' '));
    t.is(io.errs[0], line);
  }
  // With nothing learned: empty lists.
  t.deepEqual((await run(['ndp', '-r', '--ctl', r.path])).io.lines, []);
  t.deepEqual((await run(['ndp', '-p', '--ctl', r.path])).io.lines, []);
  // -a is the default; -an as BSD spells it.
  const an = await run(['ndp', '-an', '--ctl', r.path]);
  t.is(an.code, 0);
  t.regex(an.io.lines[0]!, /^Neighbor +Linklayer Address/);
});

test('rtsol IF sends router solicitations now; refused when accept_rtadv is off or forwarding is on', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const router = new RawRouter(r.link);
  // Router Solicitations (ICMPv6 type 133) from tap0's MAC 02:00:00:00:00:01.
  const rs = () => router.frames.filter((f) => f.length > 54 && f[11] === 0x01 && f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 && f[54] === 133).length;
  router.frames.length = 0;
  const ok = await run(['rtsol', 'tap0', '--ctl', r.path]);
  t.is(ok.code, 0, ok.io.errs.join('\n'));
  t.deepEqual(ok.io.lines, []);
  t.true(await until(() => rs() >= 1, 3000), 'a Router Solicitation from tap0 (MAC ...:01) within MAX_RTR_SOLICITATION_DELAY');
  const j = JSON.parse((await run(['rtsol', '--json', 'tap0', '--ctl', r.path])).io.text) as RtsolResult;
  t.deepEqual(j, { ifname: 'tap0', soliciting: true });

  t.is((await run(['ndp', '-i', 'tap0', '-accept_rtadv', '--ctl', r.path])).code, 0);
  const off = await run(['rtsol', 'tap0', '--ctl', r.path]);
  t.is(off.code, 1);
  t.deepEqual(off.io.errs, ['tap6: rtsol: accept_rtadv is off on tap0']);
  t.is((await run(['ndp', '-i', 'tap0', 'accept_rtadv', '--ctl', r.path])).code, 0);
  t.is((await run(['sysctl', 'net.inet6.ip6.forwarding=1', '--ctl', r.path])).code, 0);
  const fwd = await run(['rtsol', 'tap0', '--ctl', r.path]);
  t.is(fwd.code, 1);
  t.deepEqual(fwd.io.errs, ['tap6: rtsol: forwarding is on']);

  const cases: [string[], number, string][] = [
    [['lo0'], 1, 'tap6: rtsol: lo0 has no link-layer address: routers are solicited on Ethernet interfaces'],
    [['tap9'], 1, 'tap6: rtsol: tap9: no such interface'],
    [[], 64, 'tap6: rtsol: missing interface'],
    [['tap0', 'lo0'], 64, 'tap6: rtsol: one interface only, got tap0 lo0'],
  ];
  for (const [argv, want, line] of cases) {
    const { code, io } = await run(['rtsol', '--ctl', r.path, ...argv]);
    t.is(code, want, argv.join(' '));
    t.is(io.errs[0], line);
  }
});
