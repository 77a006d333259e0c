/**
 * `tap6 up --http PORT` against the kernel (issue 7): the daemon serves its
 * status page over its own TCP; curl in the kernel's namespace fetches it
 * over the link-local address (with the zone) and over a global address
 * added with `tap6 ifconfig`, and the JSON view names the TAP, the global
 * address and the kernel as a neighbor.
 */
import test from 'ava';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { canUseNetns, createNetns, uniqueIfName, waitFor } from '../helpers/netns.ts';

const execFileP = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TAP6 = ['--import=tsx', join(root, 'tools/tap6.ts')];
const maybe = canUseNetns().ok && isTapAvailable() && existsSync('/usr/bin/curl') ? test.serial : test.skip;

maybe('curl in the namespace fetches the daemon’s status page over link-local and global addresses', async (t) => {
  const ns = await createNetns(t);
  const dir = mkdtempSync(join(tmpdir(), 'tap6-status-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tap = uniqueIfName('t6s');
  const ctl = join(dir, 'ctl.sock');
  let out = '';
  let err = '';
  const child: ChildProcess = spawn(process.execPath, [...TAP6, 'up', '--tap', tap, '--ctl', ctl, '--http', '8080', '--log-level', 'warn'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  t.teardown(() => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor('the daemon to print its addresses', () => (/ scopeid 0x/.test(out) ? true : undefined), 15_000).catch((e: Error) => {
    throw new Error(`${e.message}; stderr: ${err}`);
  });
  const ll = /inet6 (fe80::[0-9a-f:]+)%/.exec(out)![1]!;
  await execFileP('ip', ['link', 'set', tap, 'netns', ns.name]);
  await ns.exec(['sysctl', '-qw', `net.ipv6.conf.${tap}.accept_dad=0`]);
  await ns.exec(['ip', 'link', 'set', tap, 'up']);
  await ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:77::2/64', 'dev', tap, 'nodad']);
  const add = await execFileP(process.execPath, [...TAP6, 'ifconfig', '--ctl', ctl, tap, 'inet6', '2001:db8:77::1/64'], { cwd: root, timeout: 30_000 });
  t.is(add.stderr, '');

  const curl = (url: string) => ns.exec(['curl', '-sS', '-g', '--max-time', '20', '-w', '\\n%{http_code} %{content_type}', url], { timeoutMs: 30_000 });
  const page = await curl(`http://[${ll}%25${tap}]:8080/`);
  const [body, meta] = [page.stdout.slice(0, page.stdout.lastIndexOf('\n')), page.stdout.slice(page.stdout.lastIndexOf('\n') + 1)];
  t.regex(meta, /^200 text\/html/);
  t.true(body.includes(tap), 'the page lists the TAP');
  t.true(body.includes('2001:db8:77::1'), 'and its global address');

  // Over the global address, with the JSON view: the kernel is a neighbor by now (it just talked to us).
  const j = await curl('http://[2001:db8:77::1]:8080/json');
  const jbody = j.stdout.slice(0, j.stdout.lastIndexOf('\n'));
  t.regex(j.stdout.slice(j.stdout.lastIndexOf('\n') + 1), /^200 application\/json/);
  const data = JSON.parse(jbody) as { interfaces: { name: string }[]; neighbors: { address: string }[]; counters: { name: string }[] };
  t.true(data.interfaces.some((i) => i.name === tap));
  t.true(JSON.stringify(data.neighbors).includes('2001:db8:77::2'), JSON.stringify(data.neighbors));
  t.true(data.counters.some((c) => c.name === 'tcp'));

  const notFound = await curl('http://[2001:db8:77::1]:8080/nope');
  t.regex(notFound.stdout, /\n404 /);

  child.kill('SIGINT');
  t.is(await exited, 0, err);
});
