/**
 * `tap6 up --http PORT` against the kernel (issue 7): the daemon serves its
 * status page over its own TCP; curl in the kernel's namespace fetches it
 * over the link-local address (with the zone) and over a global address
 * added with `tap6 ifconfig`, and the JSON view names the TAP, the global
 * address and the kernel as a neighbor.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { cli, startDaemon, toNamespace } from '../helpers/daemon.ts';
import { canUseNetns, createNetns } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() && existsSync('/usr/bin/curl') ? test.serial : test.skip;

maybe('curl in the namespace fetches the daemon’s status page over link-local and global addresses', async (t) => {
  const ns = await createNetns(t);
  const d = await startDaemon(t, 't6s', ['--http', '8080', '--log-level', 'warn']);
  const { tap, ll } = d;
  await toNamespace(ns, tap);
  await ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:77::2/64', 'dev', tap, 'nodad']);
  const add = await cli(['ifconfig', '--ctl', d.ctl, tap, 'inet6', '2001:db8:77::1/64']);
  t.is(add.code, 0, add.stderr);

  const curl = (url: string) => ns.exec(['curl', '-sS', '-g', '--max-time', '20', '-w', '\\n%{http_code} %{content_type}', url], { timeoutMs: 30_000 });
  const split = (s: string) => [s.slice(0, s.lastIndexOf('\n')), s.slice(s.lastIndexOf('\n') + 1)] as const;
  const [body, meta] = split((await curl(`http://[${ll}%25${tap}]:8080/`)).stdout);
  t.regex(meta, /^200 text\/html/);
  t.true(body.includes(tap), 'the page lists the TAP');
  t.true(body.includes('2001:db8:77::1'), 'and its global address');

  // Over the global address, with the JSON view: the kernel is a neighbor by now (it just talked to us).
  const [jbody, jmeta] = split((await curl('http://[2001:db8:77::1]:8080/json')).stdout);
  t.regex(jmeta, /^200 application\/json/);
  const data = JSON.parse(jbody) as { interfaces: { name: string }[]; neighbors: unknown[]; counters: { name: string }[] };
  t.true(data.interfaces.some((i) => i.name === tap));
  t.true(JSON.stringify(data.neighbors).includes('2001:db8:77::2'), JSON.stringify(data.neighbors));
  t.true(data.counters.some((c) => c.name === 'tcp'));

  t.regex((await curl('http://[2001:db8:77::1]:8080/nope')).stdout, /\n404 /);

  d.child.kill('SIGINT');
  t.is(await d.exited, 0, d.err());
});
