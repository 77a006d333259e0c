/**
 * Profiling driver (not a bench): one bulk transfer against the kernel in one
 * direction, for `node --cpu-prof`. Usage:
 *   node --import=tsx --cpu-prof --cpu-prof-dir=DIR bench/tcp-profile.ts rx|tx MB
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKernelRig } from './kernel-rig.ts';

const [dir0, mbArg] = process.argv.slice(2);
const direction = dir0 === 'tx' ? 'tx' : 'rx';
const mb = Number(mbArg ?? 64);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SINK = `import net from 'node:net';
net.createServer((s) => { let n = 0; const t0 = process.hrtime.bigint();
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => { const sec = Number(process.hrtime.bigint() - t0) / 1e9; console.log(JSON.stringify({ bytes: n, sec })); s.end(); });
}).listen(9001, '::', () => console.log('ready'));`;
const SOURCE = `import net from 'node:net';
const [host, mb] = process.argv.slice(2);
const chunk = Buffer.alloc(65536, 7); let left = Number(mb) * 1048576;
const s = net.connect({ host, port: 9000 }, () => {
  const go = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) { s.once('drain', go); return; } } s.end(); };
  go();
});
s.on('close', () => process.exit(0));`;

const rig = await openKernelRig('prof');
const keep = setInterval(() => {}, 1000);
const tmp = mkdtempSync(join(tmpdir(), 'tap6-prof-'));
try {
  const w = (name: string, text: string) => (writeFileSync(join(tmp, name), text), join(tmp, name));
  if (direction === 'rx') {
    let rx = 0, t0 = 0, t1 = 0;
    const srv = rig.stack.net.createServer((s) => {
      s.on('data', (d: Buffer) => { if (rx === 0) t0 = performance.now(); rx += d.length; t1 = performance.now(); });
      s.on('end', () => s.end());
    });
    await new Promise<void>((r) => srv.listen(9000, () => r()));
    const cu0 = process.cpuUsage(); const w0 = performance.now();
    await new Promise<void>((r) => spawn('ip', ['netns', 'exec', rig.ns, ...(process.env.PEERCPU ? ['taskset', '-c', process.env.PEERCPU] : []), process.execPath, w('src.mjs', SOURCE), rig.ll, String(mb)], { stdio: 'inherit' }).on('exit', () => r()));
    const cu = process.cpuUsage(cu0); const wall = performance.now() - w0;
    console.log(`kernel -> tap6: ${(rx / ((t1 - t0) / 1000) / 1e6).toFixed(1)} MB/s; our cpu user ${(cu.user / 1000 / wall * 100).toFixed(0)}% sys ${(cu.system / 1000 / wall * 100).toFixed(0)}% of ${wall.toFixed(0)} ms`);
    srv.close();
  } else {
    const p = spawn('ip', ['netns', 'exec', rig.ns, ...(process.env.PEERCPU ? ['taskset', '-c', process.env.PEERCPU] : []), process.execPath, w('sink.mjs', SINK)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(20);
    const c = rig.stack.net.connect({ host: `${rig.kll}%${rig.tapName}`, port: 9001 });
    await new Promise<void>((r, j) => { c.once('connect', () => r()); c.once('error', j); });
    const chunk = Buffer.alloc(65536, 7);
    const samples: string[] = [];
    const sampler = process.env.SAMPLE ? setInterval(() => {
      const cb = rig.stack.tcp.connections()[0] as unknown as { cc: { cwnd: number }; sndWnd: number; snd: { limit: number; length: number }; sndNxt: number; sndUna: number } | undefined;
      if (cb) samples.push(`cwnd=${cb.cc.cwnd} wnd=${cb.sndWnd} sndbuf=${cb.snd.limit}/${cb.snd.length} flight=${(cb.sndNxt - cb.sndUna) >>> 0}`);
    }, 200) : null;
    const cu0 = process.cpuUsage(); const w0 = performance.now();
    let left = mb * 1048576;
    await new Promise<void>((resolve) => {
      const go = () => { while (left > 0) { left -= chunk.length; if (!c.write(chunk)) return void c.once('drain', go); } c.end(); c.once('close', () => resolve()); };
      go();
    });
    if (sampler) clearInterval(sampler);
    for (const x of samples) console.log(x);
    const cu = process.cpuUsage(cu0); const wall = performance.now() - w0;
    console.log(`our cpu user ${(cu.user / 1000 / wall * 100).toFixed(0)}% sys ${(cu.system / 1000 / wall * 100).toFixed(0)}% of ${wall.toFixed(0)} ms`);
    for (let i = 0; i < 200 && !out.includes('bytes'); i++) await sleep(20);
    p.kill('SIGKILL');
    const res = JSON.parse(out.split('\n').find((l) => l.includes('bytes')) ?? '{"bytes":0,"sec":1}') as { bytes: number; sec: number };
    console.log(`tap6 -> kernel: ${(res.bytes / res.sec / 1e6).toFixed(1)} MB/s`);
  }
  const { execFileSync } = await import('node:child_process');
  const st = rig.stack.tcp.stats as unknown as { c: Record<string, number> };
  console.log(JSON.stringify(Object.fromEntries(Object.entries(st.c).filter(([, v]) => v))));
  console.log(execFileSync('ip', ['netns', 'exec', rig.ns, 'nstat', '-az', 'TcpRetransSegs', 'TcpOutSegs', 'TcpInSegs', 'TcpExtTCPSackRecovery', 'TcpExtTCPLossProbes', 'TcpExtTCPTimeouts', 'TcpExtTCPFastRetrans', 'TcpExtTCPSpuriousRTOs', 'TcpExtTCPDelivered'], { encoding: 'utf8' }));
  console.log(execFileSync('ip', ['netns', 'exec', rig.ns, 'ip', '-s', 'link', 'show', rig.tapName], { encoding: 'utf8' }));
} finally {
  clearInterval(keep);
  rig.down();
  rmSync(tmp, { recursive: true, force: true });
}
