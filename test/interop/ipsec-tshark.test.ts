/**
 * tshark's ESP decryption as an independent check of tap6's ESP: two tap6
 * stacks on the virtual link exchange ICMPv6 echoes over ESP (transport and
 * tunnel mode) with each algorithm in turn; a pcap is taken on one EtherIf;
 * tshark reads it with the SAs given on its command line
 * (`-o esp.enable_encryption_decode:TRUE -o uat:esp_sa:…`) and must show,
 * inside each SA's ESP packets, the echo request and reply we sent, with a
 * good ICV where it checks one. Needs tshark, not root.
 *
 * tshark 4.0 has no RFC 7634 ChaCha20-Poly1305 for ESP (only later
 * releases), so that suite is left out with a log line when tshark lacks it.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toHex } from '../../src/core/bytes.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import type { AuthAlgorithm, EncAlgorithm } from '../../src/ipsec/crypto.ts';
import { PcapWriter } from '../../src/link/pcap.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { type Host, makeNet, settle } from '../helpers/stack.ts';
import { ESP_SUITES, type Suite } from '../ipsec/helpers.ts';

const execFileP = promisify(execFile);

function tsharkVersion(): string | null {
  try {
    return execFileSync('tshark', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
  } catch {
    return null;
  }
}

/** Whether this tshark knows an ESP encryption algorithm by its UAT name. */
function tsharkKnows(name: string): boolean {
  try {
    const lib = execFileSync('sh', ['-c', 'strings "$(ldconfig -p | grep -o "/[^ ]*libwireshark.so[^ ]*" | head -1)"'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    return lib.split('\n').includes(name);
  } catch {
    return false;
  }
}

const version = tsharkVersion();

const A = '2001:db8::a';
const B = '2001:db8::b';
const A2 = '2001:db8:1::a';
const B2 = '2001:db8:2::b';

/** tshark's names (its esp_sa UAT value strings). */
const TS_ENC: Record<EncAlgorithm, string> = {
  'aes-gcm-16': 'AES-GCM with 16 octet ICV [RFC4106]',
  'aes-cbc': 'AES-CBC [RFC3602]',
  'chacha20-poly1305': 'ChaCha20 with Poly1305 [RFC7634]',
  null: 'NULL',
};
const TS_AUTH: Record<AuthAlgorithm, string> = { 'hmac-sha1-96': 'HMAC-SHA-1-96 [RFC2404]', 'hmac-sha256-128': 'HMAC-SHA-256-128 [RFC4868]', none: 'NULL' };
const KAME_ENC: Record<EncAlgorithm, string> = { 'aes-gcm-16': 'aes-gcm-16', 'chacha20-poly1305': 'chacha20-poly1305', 'aes-cbc': 'rijndael-cbc', null: 'null' };
const KAME_AUTH: Record<AuthAlgorithm, string> = { 'hmac-sha1-96': 'hmac-sha1', 'hmac-sha256-128': 'hmac-sha256', none: '' };

function algs(s: Suite): string {
  const e = `-E ${KAME_ENC[s.enc]}${s.enc === 'null' ? '' : ` 0x${toHex(s.encKey)}`}`;
  return s.auth === 'none' ? e : `${e} -A ${KAME_AUTH[s.auth]} 0x${toHex(s.authKey)}`;
}

function uat(s: Suite, src: string, dst: string, spi: number): string {
  const q = (x: string) => `"${x}"`;
  return `uat:esp_sa:${[q('IPv6'), q(src), q(dst), q(`0x${spi.toString(16).padStart(8, '0')}`), q(TS_ENC[s.enc]), q(s.enc === 'null' ? '' : `0x${toHex(s.encKey)}`), q(TS_AUTH[s.auth]), q(s.auth === 'none' ? '' : `0x${toHex(s.authKey)}`)].join(',')}`;
}

interface Run {
  suite: Suite;
  mode: 'transport' | 'tunnel';
  spiAB: number;
  spiBA: number;
  /** Echo identifier: finds this run's packets in tshark's output. */
  seq: number;
}

if (!version) {
  test.skip('tshark ESP decryption skipped: tshark is not installed (apt-get install tshark)', () => {});
} else {
  test.serial(`tshark ${/\d+\.\d+\.\d+/.exec(version)?.[0] ?? ''} decrypts tap6's ESP: every algorithm it shares, transport and tunnel mode`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tap6-tshark-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const net = makeNet({ hosts: 2, seed: 11 });
    const [h0, h1] = net.hosts as [Host, Host];
    for (const [h, own, inner, peerNet] of [
      [h0, A, A2, '2001:db8:2::'],
      [h1, B, B2, '2001:db8:1::'],
    ] as const) {
      unwrap(h.s.ip6.addAddress(h.ifp, in6(own), 64, { flags: IN6_IFF.NODAD }));
      unwrap(h.s.ip6.addAddress(h.ifp, in6(inner), 64, { flags: IN6_IFF.NODAD }));
      unwrap(h.s.ip6.routes.add({ dst: in6(peerNet), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
    }
    const file = join(dir, 'esp.pcap');
    const pcap = new PcapWriter({ path: file, clock: net.clock });
    h0.ifp.filters.add(pcap);

    const suites = ESP_SUITES.filter((s) => {
      if (s.enc !== 'chacha20-poly1305' || tsharkKnows(TS_ENC[s.enc])) return true;
      t.log(`${s.name}: left out, this tshark has no '${TS_ENC[s.enc]}'`);
      return false;
    });
    const runs: Run[] = [];
    for (const suite of suites) {
      for (const mode of ['transport', 'tunnel'] as const) {
        const i = runs.length;
        const r: Run = { suite, mode, spiAB: 0x5000 + 2 * i, spiBA: 0x5001 + 2 * i, seq: 100 + i };
        runs.push(r);
        const sas = `flush; spdflush;\nadd ${A} ${B} esp ${r.spiAB} -m ${mode} ${algs(suite)};\nadd ${B} ${A} esp ${r.spiBA} -m ${mode} ${algs(suite)};\n`;
        const [src, dst] = mode === 'tunnel' ? [A2, B2] : [A, B];
        const req = mode === 'tunnel' ? (x: string, y: string) => `esp/tunnel/${x}-${y}/require` : () => 'esp/transport//require';
        const p0 = `spdadd ${src} ${dst} any -P out ipsec ${req(A, B)};\nspdadd ${dst} ${src} any -P in ipsec ${req(B, A)};`;
        const p1 = `spdadd ${dst} ${src} any -P out ipsec ${req(B, A)};\nspdadd ${src} ${dst} any -P in ipsec ${req(A, B)};`;
        t.is(applySetkey(h0.s, sas + p0).error, undefined);
        t.is(applySetkey(h1.s, sas + p1).error, undefined);
        const res = await settle(net.clock, h0.s.ping({ dst: in6(dst), src: in6(src), id: 0x7777, seq: r.seq, size: 64, timeoutMs: 1000 }));
        t.truthy(res, `${suite.name} ${mode}: ping answered`);
      }
    }
    pcap.close();

    const args = ['-r', file, '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE'];
    for (const r of runs) {
      args.push('-o', uat(r.suite, A, B, r.spiAB), '-o', uat(r.suite, B, A, r.spiBA));
    }
    args.push('-Y', 'esp', '-T', 'fields', '-E', 'separator=|', '-e', 'esp.spi', '-e', 'icmpv6.type', '-e', 'icmpv6.echo.identifier', '-e', 'icmpv6.echo.sequence_number', '-e', 'esp.icv_good', '-e', 'ipv6.src');
    const { stdout } = await execFileP('tshark', args, { maxBuffer: 64 << 20 });
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    for (const r of runs) {
      const name = `${r.suite.name} ${r.mode}`;
      for (const [spi, type, from] of [
        [r.spiAB, '128', A2],
        [r.spiBA, '129', B2],
      ] as const) {
        const mine = rows.filter((x) => Number(x[0]) === spi);
        t.true(mine.length >= 1, `${name}: tshark saw ESP with SPI 0x${spi.toString(16)}`);
        const shown = mine.filter((x) => x[1] === type && Number(x[2]) === 0x7777 && Number(x[3]) === r.seq);
        t.is(shown.length, 1, `${name}: tshark shows the decrypted echo ${type === '128' ? 'request' : 'reply'} (${JSON.stringify(mine)})`);
        if (r.mode === 'tunnel') t.true(shown[0]?.[5]?.split(',').includes(from), `${name}: the inner header is shown (${shown[0]?.[5]})`);
        if (r.suite.auth !== 'none') t.is(shown[0]?.[4], '1', `${name}: tshark found the ICV good`);
      }
    }
    t.log(`${runs.length} SA pairs decrypted by tshark`);
  });
}
