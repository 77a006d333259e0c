/**
 * The daemon and the CLI end to end against the kernel (issue 3): `tap6 up`
 * runs as its own process on a TAP whose kernel side is in a namespace; the
 * kernel pings it; `tap6 ping6` pings the kernel and exits 0 with iputils
 * output; `tap6 ndp -a` shows the kernel as a neighbor; the UDP echo
 * service answers a node:dgram client in the namespace. The daemon is
 * stopped with SIGINT and everything is removed.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { cli, startDaemon, toNamespace } from '../helpers/daemon.ts';
import { canUseNetns, createNetns } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

maybe('tap6 up + tap6 ping6/ndp against the kernel; the kernel pings the daemon; UDP echo service', async (t) => {
  const ns = await createNetns(t);
  const d = await startDaemon(t, 't6d', ['--services', 'echo', '--log-level', 'warn']);
  const { tap, ctl, ll, dir } = d;
  const kll = await toNamespace(ns, tap);

  const k = await ns.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', `${ll}%${tap}`], { timeoutMs: 15_000 });
  t.regex(k.stdout, /3 packets transmitted, 3 received/);

  const p = await cli(['ping6', '-c', '3', '-i', '0.2', '--ctl', ctl, `${kll}%${tap}`]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, new RegExp(`^PING ${kll}%${tap}`, 'm'));
  t.is((p.stdout.match(/bytes from .* icmp_seq=\d+ ttl=64 time=/g) ?? []).length, 3);
  t.regex(p.stdout, /3 packets transmitted, 3 received, 0% packet loss/);

  const n = await cli(['ndp', '-a', '--ctl', ctl]);
  t.is(n.code, 0);
  t.regex(n.stdout, new RegExp(`${kll}%${tap}`));

  const script = join(dir, 'echo-client.mjs');
  writeFileSync(
    script,
    `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m) => { console.log(m.toString()); s.close(); });
s.send('over udp', 7, process.argv[2]);
setTimeout(() => { console.log('timeout'); process.exit(1); }, 3000).unref();`,
  );
  const u = await ns.exec([process.execPath, script, `${ll}%${tap}`]);
  t.is(u.stdout.trim(), 'over udp');

  const s = await cli(['netstat', '-s', '-p', 'udp', '--ctl', ctl]);
  t.regex(s.stdout, /datagrams received/);

  d.child.kill('SIGINT');
  t.is(await d.exited, 0, d.err());
  t.regex(d.out(), /tap6: stopped/);
});
