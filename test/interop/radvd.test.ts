/**
 * Router discovery and SLAAC against radvd (issue 4): radvd runs in the
 * namespace on the kernel side of the TAP and advertises 2001:db8:1::/64 with
 * short lifetimes. tap6 forms a global address (RFC 7217 identifier), learns
 * the default router and the RDNSS server, and the kernel pings that address.
 * When radvd stops, the address is deprecated at the end of its preferred
 * lifetime and removed at the end of its valid lifetime (RFC 4862 §5.5.4).
 */
import test from 'ava';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { prefixMatch } from '../../src/ip6/route.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const haveRadvd = existsSync('/usr/sbin/radvd');
const maybe = canUseNetns().ok && isTapAvailable() && haveRadvd ? test.serial : test.skip;
if (!haveRadvd) console.warn('radvd interop test skipped: radvd is not installed');

maybe('radvd: tap6 autoconfigures, installs the default route, is pinged, and ages the address out', async (t) => {
  const r = await kernelRig(t);
  const dir = mkdtempSync(join(tmpdir(), 'tap6-radvd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'radvd.conf');
  writeFileSync(
    conf,
    `interface ${r.tapName} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvDefaultPreference high;
  prefix 2001:db8:1::/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime 14;
    AdvPreferredLifetime 7;
  };
  RDNSS 2001:db8:1::53 { AdvRDNSSLifetime 20; };
};
`,
  );
  await r.ns.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  await r.ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', r.tapName, 'nodad']);
  const radvd = r.ns.spawn(['radvd', '-C', conf, '-n', '-m', 'stderr', '-p', join(dir, 'radvd.pid'), '-u', 'root']);
  let radvdErr = '';
  radvd.stderr?.on('data', (d: Buffer) => (radvdErr += d.toString()));
  const prefix = in6('2001:db8:1::');
  const st = r.stack.ip6.if6Of(r.ifp)!;
  const ia = await waitFor(
    'an autoconfigured address in 2001:db8:1::/64',
    () => st.addrs.find((a) => prefixMatch(a.addr, 0, prefix, 64) && a.flags & IN6_IFF.AUTOCONF && !(a.flags & IN6_IFF.TENTATIVE)),
    20_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; radvd said: ${radvdErr}`);
  });
  const global = formatIn6(ia.addr);
  t.log(`autoconfigured ${global}`);
  t.notRegex(global, /ff:fe/, 'a stable-privacy identifier, not EUI-64');
  const def = r.stack.ip6.routes.lookup(in6('2001:db8:99::1'));
  t.truthy(def?.gateway, 'a default route');
  t.is(formatIn6(def!.gateway!), r.kll, 'through the kernel as router');
  const routers = r.stack.rtr.routerList();
  t.is(routers.length, 1);
  t.is(routers[0]!.preference, 1, 'RFC 4191 preference high');
  t.true(r.stack.rtr.dns().some((d) => d.kind === 'rdnss' && d.value === '2001:db8:1::53'));

  const { stdout } = await r.ns.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', global], { timeoutMs: 15_000 });
  t.regex(stdout, /3 packets transmitted, 3 received/);

  // radvd stops: no more RAs. Preferred lifetime 7 s, valid 14 s from the last RA.
  radvd.kill('SIGKILL');
  await waitFor('the address to be deprecated', () => (ia.flags & IN6_IFF.DEPRECATED ? true : undefined), 12_000);
  t.true(st.addrs.includes(ia), 'still configured while valid');
  await waitFor('the address to be removed', () => (st.addrs.includes(ia) ? undefined : true), 15_000);
  t.pass();
});
