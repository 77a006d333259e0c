/**
 * The real tap6 process: exit statuses and stderr of the client commands
 * against an in-process daemon, and (with root and /dev/net/tun) the daemon
 * itself on a TAP — start, serve, stop on SIGINT, clean up, start errors;
 * its services and status page, fetched by the kernel over the TAP.
 */
import test from 'ava';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tapUnavailableReason } from '../../src/link/tap/index.ts';
import { runClientCommand } from '../../tools/cli.ts';
import { runUp } from '../../tools/daemon.ts';
import { until } from './raw.ts';
import { capture, rig } from './rig.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TAP6 = ['--import=tsx', join(root, 'tools/tap6.ts')];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function tap6(args: string[]): Promise<Ran> {
  return new Promise((res) => {
    execFile(process.execPath, [...TAP6, ...args], { cwd: root, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

test('the CLI process: exit statuses 0, 1, 2, 64 and one-line errors without stack traces', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const ctl = ['--ctl', r.path];
  // Few processes: each one costs a node + tsx start.
  const [reply, noReply, noZone, usage] = await Promise.all([
    tap6(['ping6', '-c', '1', '-W', '10', ...ctl, r.peer]),
    tap6(['ping6', '-c', '1', '-W', '0.2', ...ctl, 'fe80::99%tap0']),
    tap6(['ping6', ...ctl, 'fe80::1']),
    tap6(['ndp', '-x', ...ctl]),
  ]);
  t.is(reply.code, 0, reply.stderr);
  t.regex(reply.stdout, new RegExp(`^PING ${r.peer}\\(${r.peer}\\) 56 data bytes\n64 bytes from ${r.peer}: icmp_seq=1 ttl=64 time=`));
  t.regex(reply.stdout, /\n1 packets transmitted, 1 received, 0% packet loss, time [0-9]+ms\nrtt min\/avg\/max\/mdev = /);
  t.is(noReply.code, 1);
  t.regex(noReply.stdout, /\n1 packets transmitted, 0 received, 100% packet loss/);
  t.is(noZone.code, 2);
  t.is(noZone.stdout, '');
  t.is(noZone.stderr, 'tap6: ping6: fe80::1: a link-local address needs a zone, e.g. fe80::1%tap0\n');
  t.is(usage.code, 64);
  t.regex(usage.stderr, /^tap6: ndp: Unknown option '-x'\nusage: tap6 ndp/);
  for (const x of [reply, noReply, noZone, usage]) t.false(/\n\s+at /.test(x.stderr), x.stderr);
});

/** runUp in this process, stopped by the returned function. */
function upInProcess(argv: string[]) {
  const io = capture();
  let stop: () => void = () => {};
  const stopped = new Promise<void>((res) => (stop = res));
  return { io, stop, done: runUp(argv, { ...io, stop: stopped }) };
}

test('tap6 up: argument errors are one line and exit 64, before anything is opened', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /^tap6: up: --tap NAME is required$/],
    [['--tap', 't6x0', '--mtu', '1000'], /^tap6: up: --mtu must be an integer 1280\.\.65521, got '1000'$/],
    [['--tap', 't6x0', '--mtu', '15x'], /^tap6: up: --mtu must be an integer 1280\.\.65521, got '15x'$/],
    [['--tap', 't6x0', '--log-level', 'loud'], /^tap6: up: --log-level must be one of debug, info, warn, error, got 'loud'$/],
    [['--tap', '0bad name'], /^tap6: up: --tap: bad interface name '0bad name'/],
    [['--tap', 't6x0', '--frob'], /^tap6: up: Unknown option '--frob'$/],
  ];
  for (const [argv, re] of cases) {
    const u = upInProcess(argv);
    t.is(await u.done, 64, argv.join(' '));
    t.regex(u.io.errs[0]!, re);
    t.regex(u.io.errs[1]!, /^usage: tap6 up --tap NAME/);
    t.deepEqual(u.io.lines, []);
  }
});

const unavailable = tapUnavailableReason();
const tapTest = unavailable === undefined ? test.serial : test.skip;
const title = (s: string) => (unavailable === undefined ? s : `${s} (skipped: ${unavailable})`);

function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts `tap6 up` and resolves once it has printed its interface (DAD done). */
function startDaemon(args: string[]): { child: ChildProcess; out: () => string; err: () => string; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...TAP6, 'up', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const ready = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/ scopeid 0x/.test(out)) res();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((c) => rej(new Error(`tap6 up exited (${c}) before it was ready: ${err}`)));
  });
  ready.catch(() => {});
  return { child, out: () => out, err: () => err, ready, exited };
}

tapTest(title('tap6 up on a TAP: serves the control socket, refuses a second daemon, stops cleanly on SIGINT'), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-up-'));
  const name = `t6u${process.pid.toString(36)}`.slice(0, 15);
  const path = join(dir, 'up.sock');
  const secret = join(dir, 'secret');
  writeFileSync(secret, '00112233445566778899aabbccddeeff\n');
  const d = startDaemon([
    '--tap',
    name,
    '--ctl',
    path,
    '--pcap',
    join(dir, 'up.pcap'),
    '--log-level',
    'warn',
    '--no-accept-rtadv',
    '--sysctl',
    'net.inet6.ip6.hlim=40',
    '--stable-secret',
    secret,
  ]);
  t.teardown(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await d.ready;
  t.regex(d.out(), new RegExp(`^tap6: ${name} up \\(index 2\\), control socket ${path.replace(/[.]/g, '\\.')}\n${name}: flags=8043<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500\n\tether `));
  t.true(linkExists(name));

  const io = capture();
  t.is(await runClientCommand('ifconfig', [name, '--ctl', path], io), 0, io.errs.join('\n'));
  t.regex(io.lines[2]!, new RegExp(`^\tinet6 fe80::[0-9a-f:]+%${name} prefixlen 64 scopeid 0x2$`));
  // The start-up knobs took effect.
  const sc = capture();
  t.is(await runClientCommand('sysctl', ['-n', 'net.inet6.ip6.hlim', 'net.inet6.ip6.accept_rtadv', '--ctl', path], sc), 0, sc.errs.join('\n'));
  t.deepEqual(sc.lines, ['40', '0']);
  const ndi = capture();
  t.is(await runClientCommand('ndp', ['-i', name, '--ctl', path], ndi), 0);
  t.regex(ndi.lines[0]!, /^curhlim=40, /);
  t.is(ndi.lines[1], 'Flags:');

  // A second daemon on the same socket, or on the same TAP, says why and leaves the first alone.
  const again = upInProcess(['--tap', `${name}b`, '--ctl', path]);
  t.is(await again.done, 1);
  t.deepEqual(again.io.errs, [`tap6: up: a daemon is already listening on ${path}`]);
  const busy = upInProcess(['--tap', name, '--ctl', join(dir, 'other.sock'), '--log-level', 'warn']);
  t.is(await busy.done, 1);
  t.is(busy.io.errs.length, 1);
  t.regex(busy.io.errs[0]!, new RegExp(`^tap6: up: TAP ${name} is busy`));
  t.false(existsSync(join(dir, 'other.sock')), 'the failed daemon removed its socket');
  t.true(existsSync(path));
  t.is(await runClientCommand('route', ['--ctl', path], capture()), 0, 'the first daemon still answers');

  d.child.kill('SIGINT');
  t.is(await d.exited, 0);
  t.regex(d.out(), /tap6: stopped\n$/);
  t.false(existsSync(path), 'socket file removed');
  t.false(linkExists(name), 'TAP gone');
  t.true(existsSync(join(dir, 'up.pcap')));
  t.false(/\n\s+at /.test(d.err()), d.err());
});

/** GET over the kernel's own TCP (the test process is the kernel-side client of the TAP). */
function kernelGet(host: string, port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((res, rej) => {
    const req = http.get({ host, port, path, family: 6, timeout: 3000 }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res({ status: r.statusCode!, type: String(r.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
}

tapTest(title('tap6 up --services --http: TCP and UDP listeners in netstat, and the kernel fetches the status page over the TAP'), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-http-'));
  const name = `t6h${process.pid.toString(36)}`.slice(0, 15);
  const path = join(dir, 'up.sock');
  const u = upInProcess(['--tap', name, '--ctl', path, '--log-level', 'warn', '--services', 'echo,daytime', '--http', '8080']);
  t.teardown(async () => {
    u.stop();
    await u.done;
    rmSync(dir, { recursive: true, force: true });
  });
  t.true(await until(() => u.io.lines.some((l) => / scopeid 0x/.test(l)), 15_000), u.io.errs.join('\n'));
  t.true(u.io.lines.includes('tap6: services echo 7/udp, echo 7/tcp, daytime 13/udp, daytime 13/tcp'), u.io.lines.join('\n'));
  t.true(u.io.lines.includes('tap6: status page on port 8080/tcp: / (HTML) and /json'));

  const ns = capture();
  t.is(await runClientCommand('netstat', ['--ctl', path], ns), 0, ns.errs.join('\n'));
  for (const re of [/^tcp6 +0 +0 \*\.7 +\*\.\* +LISTEN$/m, /^tcp6 +0 +0 \*\.13 +\*\.\* +LISTEN$/m, /^tcp6 +0 +0 \*\.8080 +\*\.\* +LISTEN$/m, /^udp6 +0 +0 \*\.7 +\*\.\*$/m, /^udp6 +0 +0 \*\.13 +\*\.\*$/m]) {
    t.regex(ns.text, re);
  }

  // The kernel's side of the TAP is up with a link-local address of its own once its DAD is over: retry until then.
  const ll = /inet6 (fe80::[0-9a-f:]+)%/.exec(u.io.text)![1]!;
  let page: { status: number; type: string; body: string } | null = null;
  let last: unknown;
  for (let i = 0; i < 40 && !page; i++) {
    page = await kernelGet(`${ll}%${name}`, 8080, '/').catch((e: unknown) => ((last = e), null));
    if (!page) await new Promise((res) => setTimeout(res, 250));
  }
  if (!page) return t.fail(`no page: ${String(last)}`);
  t.is(page.status, 200);
  t.is(page.type, 'text/html; charset=utf-8');
  t.true(page.body.includes(`<h3>${name}</h3>`));
  const json = await kernelGet(`${ll}%${name}`, 8080, '/json');
  t.is(json.status, 200);
  t.true((JSON.parse(json.body) as { interfaces: { name: string }[] }).interfaces.some((i) => i.name === name));
  t.is((await kernelGet(`${ll}%${name}`, 8080, '/nothing')).status, 404);
});
