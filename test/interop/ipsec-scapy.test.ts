/**
 * IPsec against an independent implementation: scapy's
 * `scapy.layers.ipsec.SecurityAssociation` (Debian python3-scapy), run by
 * /usr/bin/python3 in the namespace on the kernel side of tap6's TAP
 * (test/interop/ipsec-scapy-peer.py). For every algorithm scapy shares with
 * us, in transport and tunnel mode, scapy encrypts an ICMPv6 echo request
 * and a UDP datagram with a static SA and sends them as raw Ethernet
 * frames; tap6 decrypts, answers (its echo reply, a UDP echo socket) through
 * its own SA; scapy decrypts the answer and compares it byte for byte with
 * the one it expects. ESN too, with both SAs started just below 2^32 so
 * that the exchanges cross it: AEAD and AH only, since scapy 2.5's
 * CBC/NULL+HMAC leaves the ESN high bits out of its ICV.
 *
 * Each case has its own pair of addresses (and tunnel inner addresses), so
 * that every case's policies are in the SPD at once and one scapy process
 * runs them all.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/core/bytes.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import type { AuthAlgorithm, EncAlgorithm } from '../../src/ipsec/crypto.ts';
import { formatMac } from '../../src/link/mac.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { AH_SUITES, ESP_SUITES, type Suite } from '../ipsec/helpers.ts';
import { type KernelRig, kernelRig } from '../helpers/kernel.ts';
import { canUseNetns } from '../helpers/netns.ts';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'ipsec-scapy-peer.py');

function scapyMissing(): string | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import scapy.layers.ipsec'], { stdio: 'ignore', timeout: 20_000 });
    return null;
  } catch {
    return 'scapy is missing (apt-get install python3-scapy: /usr/bin/python3 must import scapy.layers.ipsec)';
  }
}

const env = canUseNetns();
const why = !env.ok ? env.why : !isTapAvailable() ? 'no TAP device (/dev/net/tun)' : scapyMissing();

const SCAPY_ENC: Record<EncAlgorithm, string> = { 'aes-gcm-16': 'AES-GCM', 'chacha20-poly1305': 'CHACHA20-POLY1305', 'aes-cbc': 'AES-CBC', null: 'NULL' };
const SCAPY_AUTH: Record<AuthAlgorithm, string | null> = { 'hmac-sha1-96': 'HMAC-SHA1-96', 'hmac-sha256-128': 'SHA2-256-128', none: null };
const KAME_ENC: Record<EncAlgorithm, string> = { 'aes-gcm-16': 'aes-gcm-16', 'chacha20-poly1305': 'chacha20-poly1305', 'aes-cbc': 'rijndael-cbc', null: 'null' };
const KAME_AUTH: Record<AuthAlgorithm, string> = { 'hmac-sha1-96': 'hmac-sha1', 'hmac-sha256-128': 'hmac-sha256', none: '' };

interface Exchange {
  kind: 'icmp' | 'udp';
  hi: number;
  low: number;
  size: number;
}

interface Case {
  name: string;
  proto: 'esp' | 'ah';
  mode: 'transport' | 'tunnel';
  enc: string | null;
  encKey: string;
  auth: string | null;
  authKey: string;
  /** SPI of what tap6 receives / sends. */
  spiIn: number;
  spiOut: number;
  me: string;
  tap: string;
  innerMe: string;
  innerTap: string;
  esn: boolean;
  exchanges: Exchange[];
  /** tap6's side, kept out of the JSON for scapy. */
  suite: { enc: EncAlgorithm; encKey: Uint8Array; auth: AuthAlgorithm; authKey: Uint8Array };
}

const ESN_START = 2 ** 32 - 2;

function cases(esnOnly: boolean): Case[] {
  const out: Case[] = [];
  const suites: { name: string; proto: 'esp' | 'ah'; s: Suite }[] = [
    ...ESP_SUITES.map((s) => ({ name: `esp ${s.name}`, proto: 'esp' as const, s })),
    ...AH_SUITES.map((a) => ({ name: `ah ${a.name}`, proto: 'ah' as const, s: { name: a.name, enc: 'null' as const, encKey: new Uint8Array(0), auth: a.auth, authKey: a.authKey } })),
  ];
  for (const { name, proto, s } of suites) {
    // ESN: scapy's CBC/NULL+HMAC omits the high bits from its ICV; its AEAD and AH include them.
    if (esnOnly && proto === 'esp' && s.enc !== 'aes-gcm-16' && s.enc !== 'chacha20-poly1305') continue;
    for (const mode of ['transport', 'tunnel'] as const) {
      const i = out.length + (esnOnly ? 0x80 : 0);
      const h = (i + 1).toString(16);
      out.push({
        name: `${name} ${mode}${esnOnly ? ' esn' : ''}`,
        proto,
        mode,
        enc: proto === 'esp' ? SCAPY_ENC[s.enc] : null,
        encKey: toHex(s.encKey),
        auth: SCAPY_AUTH[s.auth],
        authKey: toHex(s.authKey),
        spiIn: 0x10000 + i * 2,
        spiOut: 0x10001 + i * 2,
        me: `2001:db8:9::2:${h}`,
        tap: `2001:db8:9::1:${h}`,
        innerMe: `2001:db8:a::${h}`,
        innerTap: `2001:db8:b::${h}`,
        esn: esnOnly,
        exchanges: esnOnly
          ? [
              { kind: 'icmp', hi: 0, low: 0xffffffff, size: 56 },
              { kind: 'udp', hi: 1, low: 0, size: 200 },
              { kind: 'icmp', hi: 1, low: 1, size: 1000 },
            ]
          : [
              { kind: 'icmp', hi: 0, low: 1, size: 56 },
              { kind: 'udp', hi: 0, low: 2, size: 333 },
            ],
        suite: { enc: s.enc, encKey: s.encKey, auth: s.auth, authKey: s.authKey },
      });
    }
  }
  return out;
}

/** tap6's addresses, SAs, policies and UDP echo sockets for the cases. */
function configure(t: ExecutionContext, r: KernelRig, list: Case[]): void {
  const s = r.stack;
  unwrap(s.ip6.routes.add({ dst: in6('2001:db8:a::'), plen: 64, ifindex: r.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
  for (const c of list) {
    const local = c.mode === 'tunnel' ? c.innerTap : c.tap;
    unwrap(s.ip6.addAddress(r.ifp, in6(c.tap), 64, { flags: IN6_IFF.NODAD }));
    if (c.mode === 'tunnel') unwrap(s.ip6.addAddress(r.ifp, in6(c.innerTap), 64, { flags: IN6_IFF.NODAD }));
    const u = c.suite;
    if (c.esn) {
      for (const [spi, src, dst, role] of [
        [c.spiIn, c.me, c.tap, 'in'],
        [c.spiOut, c.tap, c.me, 'out'],
      ] as const) {
        unwrap(
          s.ipsec.sad.add({
            spi,
            proto: c.proto,
            mode: c.mode,
            src: in6(src),
            dst: in6(dst),
            ...(c.proto === 'esp' ? { enc: u.enc, encKey: u.encKey } : {}),
            auth: u.auth,
            authKey: u.authKey,
            esn: true,
            replayWindow: 64,
            ...(role === 'out' ? { seq: ESN_START } : { replaySeq: ESN_START }),
          }),
        );
      }
    } else {
      const algs = c.proto === 'esp' ? `-E ${KAME_ENC[u.enc]}${u.enc === 'null' ? '' : ` 0x${c.encKey}`}${u.auth !== 'none' ? ` -A ${KAME_AUTH[u.auth]} 0x${c.authKey}` : ''}` : `-A ${KAME_AUTH[u.auth]} 0x${c.authKey}`;
      const o = applySetkey(s, `add ${c.me} ${c.tap} ${c.proto} ${c.spiIn} -m ${c.mode} ${algs};\nadd ${c.tap} ${c.me} ${c.proto} ${c.spiOut} -m ${c.mode} ${algs};`);
      t.is(o.error, undefined, JSON.stringify(o.error));
    }
    const pol =
      c.mode === 'tunnel'
        ? `spdadd ${c.innerTap} ${c.innerMe} any -P out ipsec ${c.proto}/tunnel/${c.tap}-${c.me}/require;\nspdadd ${c.innerMe} ${c.innerTap} any -P in ipsec ${c.proto}/tunnel/${c.me}-${c.tap}/require;`
        : `spdadd ${c.tap} ${c.me} any -P out ipsec ${c.proto}/transport//require;\nspdadd ${c.me} ${c.tap} any -P in ipsec ${c.proto}/transport//require;`;
    const o = applySetkey(s, pol);
    t.is(o.error, undefined, JSON.stringify(o.error));
    const sock = s.dgram.createSocket('udp6');
    sock.on('message', (m, ri) => sock.send(m, ri.port, ri.address));
    sock.bind(7, local);
    t.teardown(() => sock.close());
  }
}

async function runPeer(t: ExecutionContext, esn: boolean): Promise<void> {
  const r = await kernelRig(t);
  const list = cases(esn);
  configure(t, r, list);
  const dir = mkdtempSync(join(tmpdir(), 'tap6-scapy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'cases.json');
  writeFileSync(cfg, JSON.stringify({ ifname: r.tapName, tapMac: formatMac(r.ifp.lladdr!), kernelMac: formatMac(r.kernelMac), cases: list.map(({ suite: _s, ...c }) => c) }));
  const { stdout } = await r.ns.exec(['/usr/bin/python3', PEER, cfg], { timeoutMs: 300_000 });
  const res = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { name: string; ok: boolean; why?: string; seq?: number });
  const expected = list.reduce((n, c) => n + c.exchanges.length, 0);
  t.is(res.length, expected, 'one result per exchange');
  t.deepEqual(
    res.filter((x) => !x.ok),
    [],
    'every answer decrypted by scapy and equal byte for byte',
  );
  if (esn) {
    t.true(
      res.every((x) => x.seq === undefined || x.seq >= 2 ** 32 - 1),
      'tap6 sent from just below 2^32',
    );
    t.true(res.filter((x) => (x.seq ?? 0) >= 2 ** 32).length >= list.length * 2, 'and across it');
  }
  const c = r.stack.ipsec.stats.c;
  t.is(c.inSuccess, expected, 'tap6 accepted each of scapy’s packets once');
  t.is(c.inAuthFail + c.inReplay + c.inTooOld + c.inPolvio + c.inNoSa + c.outNoSa, 0);
  t.log(`${expected} exchanges (${list.length} SA pairs) byte for byte with scapy`);
}

if (why) {
  test.skip(`scapy interop skipped: ${why}`, () => {});
} else {
  test.serial('scapy ↔ tap6: ICMPv6 echo and UDP over ESP (every shared algorithm) and AH, transport and tunnel mode', async (t) => {
    await runPeer(t, false);
  });
  test.serial('scapy ↔ tap6: ESN across 2^32 (AES-GCM, ChaCha20-Poly1305, AH), transport and tunnel mode', async (t) => {
    await runPeer(t, true);
  });
}
