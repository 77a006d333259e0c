/**
 * `tap6 up` as its own process for interop tests: started on a new TAP with
 * its control socket in a temporary folder, killed (SIGKILL, by PID) in the
 * test's teardown if it is still running; `toNamespace` moves the TAP's
 * kernel side into a namespace and returns the kernel's link-local address.
 */
import type { ExecutionContext } from 'ava';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Netns, uniqueIfName, waitFor } from './netns.ts';

const execFileP = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** node arguments that run the tap6 CLI from source. */
export const TAP6 = ['--import=tsx', join(ROOT, 'tools/tap6.ts')];

export interface Daemon {
  tap: string;
  ctl: string;
  dir: string;
  child: ChildProcess;
  /** Our link-local address as the daemon printed it (no zone). */
  ll: string;
  /** What the daemon printed so far. */
  out(): string;
  err(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export async function startDaemon(t: ExecutionContext, prefix: string, args: string[]): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), `tap6-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tap = uniqueIfName(prefix);
  const ctl = join(dir, 'ctl.sock');
  let out = '';
  let err = '';
  const child = spawn(process.execPath, [...TAP6, 'up', '--tap', tap, '--ctl', ctl, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { tap, ctl, dir, child, ll, out: () => out, err: () => err, exited };
}

/** Moves the TAP's kernel side into `ns`, brings it up without DAD, and returns the kernel's link-local address. */
export async function toNamespace(ns: Netns, tap: string): Promise<string> {
  await execFileP('ip', ['link', 'set', tap, 'netns', ns.name]);
  await ns.exec(['sysctl', '-qw', `net.ipv6.conf.${tap}.accept_dad=0`]);
  await ns.exec(['ip', 'link', 'set', tap, 'up']);
  return waitFor('the kernel link-local address', async () => {
    const { stdout } = await ns.exec(['ip', '-6', '-j', 'addr', 'show', 'dev', tap]);
    return (JSON.parse(stdout) as { addr_info?: { local: string; scope: string }[] }[])[0]?.addr_info?.find((x) => x.scope === 'link')?.local;
  });
}

/** Runs the tap6 CLI; resolves with its exit code and output whatever the code. */
export function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFileP(process.execPath, [...TAP6, ...args], { cwd: ROOT, timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}
