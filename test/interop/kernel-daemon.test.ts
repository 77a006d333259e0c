/**
 * The daemon and the CLI end to end against the kernel (issue 3): `tap6 up`
 * runs as its own process on a TAP whose kernel side is in a namespace; the
 * kernel pings it; `tap6 ping6` pings the kernel and exits 0 with iputils
 * output; `tap6 ndp -a` shows the kernel as a neighbor; the UDP echo
 * service answers a node:dgram client in the namespace. The daemon is
 * stopped with SIGINT and everything is removed.
 */
import test from 'ava';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { canUseNetns, createNetns, uniqueIfName, waitFor } from '../helpers/netns.ts';

const execFileP = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TAP6 = ['--import=tsx', join(root, 'tools/tap6.ts')];
const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFileP(process.execPath, [...TAP6, ...args], { cwd: root, timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

maybe('tap6 up + tap6 ping6/ndp against the kernel; the kernel pings the daemon; UDP echo service', async (t) => {
  const ns = await createNetns(t);
  const dir = mkdtempSync(join(tmpdir(), 'tap6-daemon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tap = uniqueIfName('t6d');
  const ctl = join(dir, 'ctl.sock');
  let out = '';
  let err = '';
  const child: ChildProcess = spawn(process.execPath, [...TAP6, 'up', '--tap', tap, '--ctl', ctl, '--services', 'echo', '--log-level', 'warn'], {
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
  const kll = await waitFor('the kernel link-local address', async () => {
    const { stdout } = await ns.exec(['ip', '-6', '-j', 'addr', 'show', 'dev', tap]);
    return (JSON.parse(stdout) as { addr_info?: { local: string; scope: string }[] }[])[0]?.addr_info?.find((x) => x.scope === 'link')?.local;
  });

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

  child.kill('SIGINT');
  t.is(await exited, 0, err);
  t.regex(out, /tap6: stopped/);
});
