/** Text formatting of the tools, without a daemon. */
import test from 'ava';
import {
  formatIfconfig,
  formatNdIf,
  formatNdp,
  formatPrefixes,
  formatRouters,
  formatRoutes,
  formatRtt,
  formatSysctl,
  ndpExpire,
  pingIcmpError,
  pingSummary,
  rttStats,
  sec2str,
  table,
} from '../../tools/format.ts';
import type { IfInfo, NeighborJson, RouteJson } from '../../tools/handlers.ts';

test('sec2str prints durations as BSD ndp does', (t) => {
  t.is(sec2str(0), '0s');
  t.is(sec2str(23), '23s');
  t.is(sec2str(65), '1m5s');
  t.is(sec2str(7203), '2h0m3s');
  t.is(sec2str(86409), '1d0h0m9s');
});

test('round-trip times keep three significant digits like iputils', (t) => {
  t.is(formatRtt(0.0456), '0.046');
  t.is(formatRtt(1.2345), '1.23');
  t.is(formatRtt(12.345), '12.3');
  t.is(formatRtt(123.4), '123');
});

test('ping summary: loss in %g style, errors, rtt line only with replies', (t) => {
  t.deepEqual(pingSummary('fe80::1%tap0', { transmitted: 3, received: 2, errors: 0, timeMs: 2003, rtt: rttStats([1, 2]) }), [
    '--- fe80::1%tap0 ping statistics ---',
    '3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms',
    'rtt min/avg/max/mdev = 1.000/1.500/2.000/0.500 ms',
  ]);
  t.deepEqual(pingSummary('x', { transmitted: 2, received: 0, errors: 2, timeMs: 5, rtt: null }), [
    '--- x ping statistics ---',
    '2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 5ms',
  ]);
  t.is(rttStats([]), null);
});

test('table pads columns to their widest cell and trims line ends', (t) => {
  t.deepEqual(table(['A', 'Bee', 'C'], ['l', 'r', 'l'], [['xyz', '1', ''], ['', '22', 'q']]), ['A   Bee C', 'xyz   1', '     22 q']);
});

const nb = (o: Partial<NeighborJson>): NeighborJson => ({
  addr: 'fe80::1',
  text: 'fe80::1%tap0',
  ifname: 'tap0',
  zone: 2,
  lladdr: '02:00:00:00:00:01',
  state: 'REACHABLE',
  isRouter: false,
  expire: 23,
  ...o,
});

test('ndp -a: state letters, router flag, (incomplete), expire words', (t) => {
  t.is(ndpExpire(nb({})), '23s');
  t.is(ndpExpire(nb({ expire: 0 })), 'expired');
  t.is(ndpExpire(nb({ state: 'STALE', expire: null })), 'permanent');
  t.is(ndpExpire(nb({ state: 'INCOMPLETE', expire: null })), '-');
  t.deepEqual(formatNdp([nb({ isRouter: true }), nb({ text: 'fe80::2%tap0', lladdr: null, state: 'INCOMPLETE', expire: 3 }), nb({ state: 'DELAY', expire: 5 }), nb({ state: 'PROBE', expire: 1 })]), [
    'Neighbor     Linklayer Address Netif Expire S Flags',
    'fe80::1%tap0 02:00:00:00:00:01  tap0 23s    R R',
    'fe80::2%tap0 (incomplete)       tap0 3s     I',
    'fe80::1%tap0 02:00:00:00:00:01  tap0 5s     D',
    'fe80::1%tap0 02:00:00:00:00:01  tap0 1s     P',
  ]);
});

test('ifconfig: address state words, lifetimes when finite, no ether line without a link address', (t) => {
  const i: IfInfo = {
    name: 'tap0',
    index: 2,
    type: 'ether',
    flags: 0x8043,
    flagNames: ['UP', 'BROADCAST', 'RUNNING', 'MULTICAST'],
    mtu: 1500,
    ether: null,
    addrs: [
      { addr: '2001:db8::1', text: '2001:db8::1', plen: 64, flags: 0x52, flagNames: ['tentative', 'deprecated', 'autoconf'], scopeid: null, pltime: 0, vltime: 3600 },
    ],
    groups: [],
    nd: null,
  };
  t.deepEqual(formatIfconfig([i]), [
    'tap0: flags=8043<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500',
    '\tinet6 2001:db8::1 prefixlen 64 tentative deprecated autoconf pltime 0 vltime 3600',
  ]);
});

test('ifconfig: an impaired link shows its spec; an all-zero one shows (none)', (t) => {
  const i: IfInfo = {
    name: 'tap0',
    index: 2,
    type: 'ether',
    flags: 0x8043,
    flagNames: ['UP', 'BROADCAST', 'RUNNING', 'MULTICAST'],
    mtu: 1500,
    ether: '02:00:00:00:00:01',
    addrs: [],
    groups: [],
    nd: null,
    impair: { spec: 'loss=2%,tx.delay=5ms', seed: 7, counters: { lost: 3 } },
  };
  t.deepEqual(formatIfconfig([i]), ['tap0: flags=8043<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500', '\tether 02:00:00:00:00:01', '\timpair loss=2%,tx.delay=5ms']);
  t.is(formatIfconfig([{ ...i, impair: { spec: '', seed: 7, counters: {} } }])[2], '\timpair (none)');
});

test('routes: header and an expiring gateway route', (t) => {
  t.deepEqual(
    formatRoutes([
      { destination: '::/0', dst: '::', plen: 0, gateway: 'fe80::1%tap0', flags: 3, flagNames: 'UG', netif: 'tap0', ifindex: 2, origin: 'ra', expire: 1800, mtu: 0, use: 4 },
    ]),
    ['Routing tables', '', 'Internet6:', 'Destination Gateway      Flags Netif Expire Use', '::/0        fe80::1%tap0 UG     tap0   1800   4'],
  );
});

const rt = (o: Partial<RouteJson>): RouteJson => ({
  destination: '::/0',
  dst: '::',
  plen: 0,
  gateway: 'fe80::1%tap0',
  flags: 3,
  flagNames: 'UG',
  netif: 'tap0',
  ifindex: 2,
  origin: 'ra',
  expire: null,
  mtu: 0,
  use: 0,
  ...o,
});

test('routes: an Mtu column only when some route has an MTU; the Path MTU cache section', (t) => {
  t.deepEqual(
    formatRoutes([rt({}), rt({ destination: '2001:db8::/48', gateway: 'fe80::2%tap0', mtu: 1400 })], [
      { destination: '2001:db8::5', dst: '2001:db8::5', zone: 0, mtu: 1300, expire: 599 },
    ]),
    [
      'Routing tables',
      '',
      'Internet6:',
      'Destination   Gateway      Flags  Mtu Netif Expire Use',
      '::/0          fe80::1%tap0 UG          tap0          0',
      '2001:db8::/48 fe80::2%tap0 UG    1400  tap0          0',
      '',
      'Path MTU cache:',
      'Destination  Mtu Expire',
      '2001:db8::5 1300  9m59s',
    ],
  );
  t.false(formatRoutes([rt({})]).some((l) => l.includes('Mtu') || l.includes('Path MTU')));
});

test('ndp -r: BSD line per router', (t) => {
  t.deepEqual(
    formatRouters([
      { addr: 'fe80::1', text: 'fe80::1%tap0', ifname: 'tap0', preference: 'high', expire: 1790, managed: true, other: true },
      { addr: 'fe80::2', text: 'fe80::2%tap0', ifname: 'tap0', preference: 'low', expire: 0, managed: false, other: false },
    ]),
    ['fe80::1%tap0 if=tap0, flags=MO, pref=high, expire=29m50s', 'fe80::2%tap0 if=tap0, flags=, pref=low, expire=expired'],
  );
});

test('ndp -p: prefix, flags and expiry, then its addresses with lifetimes', (t) => {
  t.deepEqual(
    formatPrefixes([
      {
        prefix: '2001:db8::/64',
        ifname: 'tap0',
        onLink: true,
        autonomous: true,
        expire: null,
        addresses: [
          { addr: '2001:db8::1', text: '2001:db8::1', plen: 64, flags: 0x40, flagNames: ['autoconf'], scopeid: null, pltime: 100, vltime: null, temporary: false },
          { addr: '2001:db8::2', text: '2001:db8::2', plen: 64, flags: 0xd0, flagNames: ['deprecated', 'autoconf', 'temporary'], scopeid: null, pltime: 0, vltime: 65, temporary: true },
        ],
      },
      { prefix: '2001:db8:5::/48', ifname: 'tap0', onLink: true, autonomous: false, expire: 30, addresses: [] },
    ]),
    [
      '2001:db8::/64 if=tap0',
      'flags=LA, expire=infinity',
      '  autoconfigured addresses:',
      '    2001:db8::1 autoconf, pltime=1m40s, vltime=infinity',
      '    2001:db8::2 deprecated autoconf temporary, pltime=expired, vltime=1m5s',
      '2001:db8:5::/48 if=tap0',
      'flags=L, expire=30s',
      '  No addresses formed',
    ],
  );
});

test('ndp -i: variables, flags, DNS lines', (t) => {
  t.deepEqual(
    formatNdIf({
      ifname: 'tap0',
      index: 2,
      curHopLimit: 64,
      reachableTime: 23_456,
      baseReachableTime: 30_500,
      retransTimer: 1000,
      dadTransmits: 1,
      linkMtu: 1500,
      acceptRtadv: true,
      disabled: true,
      flags: ['accept_rtadv', 'ifdisabled'],
      dns: [
        { kind: 'rdnss', value: '2001:db8::53', expire: 3600 },
        { kind: 'dnssl', value: 'example.org', expire: null },
      ],
    }),
    [
      'curhlim=64, reachable=23s, basereachable=30s500ms, retrans=1000ms, dad_count=1, linkmtu=1500',
      'Flags: accept_rtadv ifdisabled',
      'RDNSS: 2001:db8::53 expire=1h0m0s',
      'DNSSL: example.org expire=infinity',
    ],
  );
});

test('sysctl: name: value, old -> new, -n, -d', (t) => {
  const e = [
    { name: 'net.inet6.ip6.hlim', value: 32, old: 64, writable: true, description: 'default hop limit' },
    { name: 'net.inet6.ip6.ifid', value: 'stable', writable: true, description: 'identifiers' },
  ];
  t.deepEqual(formatSysctl(e), ['net.inet6.ip6.hlim: 64 -> 32', 'net.inet6.ip6.ifid: stable']);
  t.deepEqual(formatSysctl(e, { valuesOnly: true }), ['64 -> 32', 'stable']);
  t.deepEqual(formatSysctl(e, { descriptions: true }), ['net.inet6.ip6.hlim: default hop limit', 'net.inet6.ip6.ifid: identifiers']);
});

test('ping6: an ICMPv6 error line as iputils prints it', (t) => {
  t.is(
    pingIcmpError({ seq: 3, from: 'fe80::1%tap0', type: 1, code: 3, text: 'Destination unreachable: Address unreachable' }),
    'From fe80::1%tap0 icmp_seq=3 Destination unreachable: Address unreachable',
  );
  t.deepEqual(pingSummary('x', { transmitted: 3, received: 1, errors: 2, timeMs: 2002, rtt: rttStats([1]) })[1], '3 packets transmitted, 1 received, +2 errors, 66.6667% packet loss, time 2002ms');
});
