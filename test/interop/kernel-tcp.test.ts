/**
 * TCP against the Linux kernel (issue 7): curl in the namespace fetches pages
 * from node:http running on a tap6 listener (a small page and a large body,
 * checked by size and SHA-256); a tap6 connection talks to a node:net echo
 * server in the namespace and gets every byte back; bulk data both ways
 * arrives byte-identical.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;
const haveCurl = existsSync('/usr/bin/curl');

function body(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 8)) & 0xff;
  return b;
}

(haveCurl ? maybe : test.skip)('curl in the kernel namespace fetches pages from node:http on a tap6 listener', async (t) => {
  const r = await kernelRig(t);
  const big = body(8 << 20);
  const bigSum = createHash('sha256').update(big).digest('hex');
  const server = http.createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
      res.end(big);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from tap6\n');
    }
  });
  const l = r.stack.net.createServer((s) => server.emit('connection', s));
  t.teardown(() => l.close());
  await new Promise<void>((res) => l.listen(8080, () => res()));
  const url = (p: string) => `http://[${r.ll}%25${r.tapName}]:8080${p}`;
  const small = await r.ns.exec(['curl', '-sS', '--max-time', '20', url('/')], { timeoutMs: 30_000 });
  t.is(small.stdout, 'hello from tap6\n');
  const dir = mkdtempSync(join(tmpdir(), 'tap6-curl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'big');
  const meta = await r.ns.exec(['curl', '-sS', '--max-time', '60', '-o', out, '-w', '%{size_download} %{speed_download}', url('/big')], { timeoutMs: 90_000 });
  const [size, speed] = meta.stdout.split(' ').map(Number);
  t.is(size, big.length);
  const sum = await r.ns.exec(['sha256sum', out]);
  t.is(sum.stdout.split(' ')[0], bigSum, 'byte-identical');
  t.log(`8 MiB tap6 → kernel at ${((speed ?? 0) / 1e6).toFixed(1)} MB/s`);
});

maybe('a tap6 connection to a node:net echo server in the namespace: 50 MB both ways, byte for byte', async (t) => {
  const r = await kernelRig(t);
  const dir = mkdtempSync(join(tmpdir(), 'tap6-tcp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'echo.mjs');
  writeFileSync(script, `import net from 'node:net';\nnet.createServer((s) => s.pipe(s)).listen(7007, '::', () => console.log('ready'));\n`);
  const srv = r.ns.spawn([process.execPath, script]);
  let out = '';
  srv.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the echo server', () => (out.includes('ready') ? true : undefined));
  const data = body(50_000_000);
  const c = r.stack.net.connect({ host: `${r.kll}%${r.tapName}`, port: 7007 });
  t.teardown(() => c.destroy());
  await new Promise<void>((res, rej) => {
    c.once('connect', () => res());
    c.once('error', rej);
  });
  const hash = createHash('sha256');
  let got = 0;
  const start = performance.now();
  const done = new Promise<void>((res, rej) => {
    c.on('data', (d: Buffer) => {
      hash.update(d);
      got += d.length;
      if (got >= data.length) res();
    });
    c.once('error', rej);
  });
  c.write(data);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`only ${got} bytes echoed`)), 120_000)));
  await Promise.race([done, limit]).finally(() => clearTimeout(timer));
  const secs = (performance.now() - start) / 1000;
  t.is(got, data.length);
  t.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  t.log(`50 MB each way in ${secs.toFixed(2)} s (${((2 * data.length) / secs / 1e6).toFixed(1)} MB/s total)`);
  c.end();
  await waitFor('the close handshake', () => (c.tcpState === 'TIME_WAIT' || c.tcpState === 'CLOSED' ? true : undefined), 5000);
  t.is(r.stack.tcp.stats.c.rcvBadSum, 0);
});
