/**
 * Network namespaces for interop tests against the Linux kernel.
 *
 * A test gets a fresh namespace named `tap6t-<pid>-<n>`, drives the kernel in
 * it with `ns.exec([...])`, and everything is removed afterwards even when the
 * test fails: ava's teardown deletes the namespace (which destroys any device
 * inside it, a TAP moved there included) and ends the processes the test
 * started in it, by PID. A process-exit hook does the same if the worker dies,
 * and namespaces left by a previous run whose process is gone are swept when
 * this module loads.
 *
 * Traffic stays inside: tests address only the TAP and the namespace they made.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const execFileP = promisify(execFile);
const PREFIX = 'tap6t';
const live = new Set<string>();
const children = new Set<ChildProcess>();
let counter = 0;

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface Netns {
  readonly name: string;
  /** Runs a command inside the namespace; rejects with stderr on a non-zero exit. */
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Starts a long-running command inside the namespace; it is killed at teardown. */
  spawn(argv: string[]): ChildProcess;
  /** Deletes the namespace now (teardown does it anyway). */
  remove(): void;
}

/** True when this process may create namespaces and TAPs (root, /dev/net/tun, iproute2). */
export function canUseNetns(): { ok: boolean; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'needs root (network namespaces and TAP devices)' };
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return { ok: false, why: 'iproute2 (ip) is not installed' };
  }
  return { ok: true, why: '' };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function delNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
  live.delete(name);
}

/** Removes namespaces of earlier test processes that no longer exist. */
export function sweepStale(): void {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of out.split('\n')) {
    const m = new RegExp(`^(${PREFIX}-(\\d+)-\\d+)`).exec(line.trim());
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) delNetns(m[1]!);
  }
}

function killChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  children.clear();
}

process.on('exit', () => {
  killChildren();
  for (const n of [...live]) delNetns(n);
});

if (process.getuid?.() === 0) sweepStale();

/** Creates a namespace with its loopback up and registers its removal with the test's teardown. */
export async function createNetns(t?: ExecutionContext): Promise<Netns> {
  const name = `${PREFIX}-${process.pid}-${counter++}`;
  await execFileP('ip', ['netns', 'add', name]);
  live.add(name);
  const mine = new Set<ChildProcess>();
  const ns: Netns = {
    name,
    async exec(argv, opts) {
      try {
        const r = await execFileP('ip', ['netns', 'exec', name, ...argv], { timeout: opts?.timeoutMs ?? 20_000, encoding: 'utf8' });
        return { stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        const x = e as Error & { stderr?: string; code?: unknown };
        const cmd = argv.join(' ');
        throw new Error(`[${name}] ${cmd.length > 160 ? `${cmd.slice(0, 160)}…` : cmd} failed (${String(x.code)}): ${x.stderr?.trim() || x.message}`);
      }
    },
    spawn(argv) {
      const c = spawn('ip', ['netns', 'exec', name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(c);
      mine.add(c);
      c.on('exit', () => children.delete(c));
      return c;
    },
    remove() {
      for (const c of mine) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
      delNetns(name);
    },
  };
  await ns.exec(['ip', 'link', 'set', 'lo', 'up']);
  t?.teardown(() => ns.remove());
  return ns;
}

/** A unique TAP name for this process (at most 15 characters). */
export function uniqueIfName(prefix = 't6'): string {
  const n = `${prefix}${(process.pid % 100000).toString(36)}${(counter++).toString(36)}`;
  if (n.length > 15) throw new Error(`interface name too long: ${n}`);
  return n;
}

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
