/**
 * `tap6 setkey`: static keying of a running stack, KAME-style.
 *
 *   tap6 setkey [--ctl PATH] [--json] -f FILE     commands from a file
 *   tap6 setkey [--ctl PATH] [--json] -c          commands from stdin
 *   tap6 setkey [--ctl PATH] [--json] -D [-P]     dump the SAD (-P: the SPD)
 *   tap6 setkey [--ctl PATH] -F [-P]              flush the SAD (-P: the SPD)
 *
 * The client reads and parses the whole input first (setkey.ts): a parse
 * error is reported as `FILE:LINE: message` and nothing is sent. The daemon
 * parses the text again (it trusts no client) and applies the statements in
 * order; the first one that fails (an SA that exists, a key of the wrong
 * size, a zone that names no interface) stops the run, reported with its
 * line — the statements before it stay applied, as with setkey. Inputs
 * larger than one control request are sent in pieces cut at statement
 * boundaries, with their line numbers kept.
 *
 * The daemon side (`setkeyHandlers`) is one control command, `setkey`,
 * taking `{ text, firstLine? }` and answering `{ applied, results, error? }`;
 * dump results are JSON (SaJson, PolicyJson), formatted here for people.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { toHex } from '../src/core/bytes.ts';
import { formatIn6 } from '../src/ip6/addr.ts';
import { ANY, type Policy, type PolicySpec, type RequestSpec, type SelectorSpec, formatRequest, parseRequest } from '../src/ipsec/spd.ts';
import type { SaSpec, SecAssoc } from '../src/ipsec/sad.ts';
import type { Stack } from '../src/stack.ts';
import type { Io } from './cli.ts';
import { CtlClient, CtlError, type Handler, MAX_REQUEST_LINE, resolveCtlPath } from './ctl.ts';
import { AUTH_KAME, ENC_KAME, type RangeText, type SetkeyCmd, type SetkeyError, type SpdSelectorText, keyBytes, parseSetkey } from './setkey.ts';

export const SETKEY_USAGE = 'tap6 setkey [--ctl PATH] [--json] -f FILE | -c | -D [-P] | -F [-P]';

// ---- JSON shapes ---------------------------------------------------------------------------

export interface SaJson {
  src: string;
  dst: string;
  proto: 'esp' | 'ah' | 'ipcomp';
  mode: 'transport' | 'tunnel';
  spi: number;
  /** IPComp: the algorithm, the CPI on the wire and whether it is the SPI as given (-R); null otherwise. */
  calg: string | null;
  cpi: number | null;
  cpiRaw: boolean;
  reqid: number;
  /** KAME's algorithm names; keys in hex. */
  enc: string | null;
  encKey: string;
  auth: string | null;
  authKey: string;
  replayWindow: number;
  esn: boolean;
  /** Last sequence number sent; highest received. */
  seq: number;
  replaySeq: number;
  state: string;
  bytes: number;
  packets: number;
  /** Seconds since it was added / first used (null: never used). */
  age: number;
  idle: number | null;
  errors: { replay: number; tooOld: number; authFail: number; badPad: number };
}

export interface PolicyJson {
  id: number;
  dir: 'in' | 'out';
  src: string;
  dst: string;
  /** Port, ICMPv6 type or code; null: any. */
  sport: number | null;
  dport: number | null;
  /** Upper-layer protocol number; null: any. */
  proto: number | null;
  action: string;
  requests: string[];
  priority: number;
  hits: number;
}

export type SetkeyResult = { line: number; op: 'dump'; sas: SaJson[] } | { line: number; op: 'spddump'; policies: PolicyJson[] } | { line: number; op: 'get'; sa: SaJson };

export interface SetkeyOutcome {
  /** Statements applied. */
  applied: number;
  results: SetkeyResult[];
  error?: SetkeyError;
}

export function saJson(sa: SecAssoc, now: number): SaJson {
  return {
    src: formatIn6(sa.src),
    dst: formatIn6(sa.dst),
    proto: sa.proto,
    mode: sa.mode,
    spi: sa.spi,
    calg: sa.calg,
    cpi: sa.proto === 'ipcomp' ? sa.cpi : null,
    cpiRaw: sa.cpiRaw,
    reqid: sa.reqid,
    enc: sa.proto === 'esp' ? ENC_KAME[sa.enc] : null,
    encKey: toHex(sa.encKey),
    auth: sa.auth !== 'none' ? AUTH_KAME[sa.auth] : null,
    authKey: toHex(sa.authKey),
    replayWindow: sa.replay.size,
    esn: sa.esn,
    seq: sa.seq,
    replaySeq: sa.replay.top,
    state: sa.state,
    bytes: sa.bytes,
    packets: sa.packets,
    age: Math.floor((now - sa.addedAt) / 1000),
    idle: sa.usedAt < 0 ? null : Math.floor((now - sa.usedAt) / 1000),
    errors: { ...sa.counters },
  };
}

export function policyJson(p: Policy): PolicyJson {
  return {
    id: p.id,
    dir: p.dir,
    src: `${formatIn6(p.src)}/${p.srcPlen}`,
    dst: `${formatIn6(p.dst)}/${p.dstPlen}`,
    sport: p.sport === ANY ? null : p.sport,
    dport: p.dport === ANY ? null : p.dport,
    proto: p.proto === ANY ? null : p.proto,
    action: p.action,
    requests: p.requests.map(formatRequest),
    priority: p.priority,
    hits: p.hits,
  };
}

// ---- the daemon side ---------------------------------------------------------------------------

class ApplyFail extends Error {}

function addr(stack: Stack, text: string): { addr: Uint8Array; zone: number } {
  const r = stack.parseAddress(text);
  if (!r.ok) throw new ApplyFail(r.error);
  return r.value;
}

function selectorSpec(stack: Stack, c: SpdSelectorText): SelectorSpec {
  const one = (r: RangeText) => addr(stack, r.addr).addr;
  const s: SelectorSpec = { dir: c.dir, src: one(c.src), srcPlen: c.src.plen, dst: one(c.dst), dstPlen: c.dst.plen };
  if (c.proto !== undefined) s.proto = c.proto;
  if (c.src.port !== undefined) s.sport = c.src.port;
  if (c.dst.port !== undefined) s.dport = c.dst.port;
  if (c.icmpType !== undefined) s.icmpType = c.icmpType;
  if (c.icmpCode !== undefined) s.icmpCode = c.icmpCode;
  return s;
}

function requestSpec(text: string): RequestSpec {
  const r = parseRequest(text);
  if (!r.ok) throw new ApplyFail(r.error);
  const q = r.value;
  return { proto: q.proto, mode: q.mode, level: q.level, reqid: q.reqid, ...(q.src && q.dst ? { src: q.src, dst: q.dst } : {}) };
}

function applyOne(stack: Stack, c: SetkeyCmd): SetkeyResult | null {
  const { sad, spd } = stack.ipsec;
  const now = stack.clock.now();
  switch (c.op) {
    case 'add': {
      const s = addr(stack, c.src);
      const d = addr(stack, c.dst);
      const spec: SaSpec = { spi: c.spi, proto: c.proto, mode: c.mode, src: s.addr, dst: d.addr, zone: d.zone || s.zone, esn: c.esn };
      if (c.enc) {
        spec.enc = c.enc;
        spec.encKey = keyBytes(c.encKey);
      }
      if (c.auth) {
        spec.auth = c.auth;
        spec.authKey = keyBytes(c.authKey);
      }
      if (c.calg) spec.calg = c.calg;
      if (c.cpiRaw) spec.cpiRaw = true;
      if (c.replay !== undefined) spec.replayWindow = c.replay;
      if (c.reqid !== undefined) spec.reqid = c.reqid;
      const r = sad.add(spec);
      if (!r.ok) throw new ApplyFail(r.error);
      return null;
    }
    case 'get': {
      const sa = sad.get(c.spi, addr(stack, c.dst).addr, c.proto);
      if (!sa) throw new ApplyFail(`no ${c.proto} SA with SPI ${spiText(c.spi)} to ${c.dst}`);
      return { line: c.line, op: 'get', sa: saJson(sa, now) };
    }
    case 'delete': {
      if (!sad.delete(c.spi, addr(stack, c.dst).addr, c.proto)) throw new ApplyFail(`no ${c.proto} SA with SPI ${spiText(c.spi)} to ${c.dst}`);
      return null;
    }
    case 'deleteall': {
      const s = addr(stack, c.src).addr;
      const d = addr(stack, c.dst).addr;
      for (const sa of sad.list()) if (sa.proto === c.proto && eq(sa.src, s) && eq(sa.dst, d)) sad.remove(sa);
      return null;
    }
    case 'flush':
      sad.flush(c.proto);
      return null;
    case 'dump':
      return { line: c.line, op: 'dump', sas: sad.list().filter((sa) => !c.proto || sa.proto === c.proto).map((sa) => saJson(sa, now)) };
    case 'spdadd': {
      const spec: PolicySpec = { selector: selectorSpec(stack, c), action: c.action, requests: c.requests.map(requestSpec) };
      if (c.priority !== undefined) spec.priority = c.priority;
      const r = spd.add(spec);
      if (!r.ok) throw new ApplyFail(r.error);
      return null;
    }
    case 'spddelete': {
      const found = spd.findExact(selectorSpec(stack, c));
      if (found.length === 0) throw new ApplyFail('no such policy');
      for (const p of found) spd.delete(p.id);
      return null;
    }
    case 'spdflush':
      spd.flush();
      return null;
    case 'spddump':
      return { line: c.line, op: 'spddump', policies: spd.list().map(policyJson) };
  }
}

/**
 * Parses and applies setkey text to a stack (the daemon's command, usable
 * in-process). `firstLine`: the line number of the text's first line.
 */
export function applySetkey(stack: Stack, text: string, firstLine = 1): SetkeyOutcome {
  const shift = (l: number) => l + firstLine - 1;
  const p = parseSetkey(text);
  if (!p.ok) return { applied: 0, results: [], error: { line: shift(p.error.line), message: p.error.message } };
  const results: SetkeyResult[] = [];
  let applied = 0;
  if (!stack.ipsecAttached) {
    const c = p.value.cmds.find((x) => x.op === 'add' || x.op === 'spdadd');
    if (c) return { applied, results, error: { line: shift(c.line), message: 'IPsec is not in this stack (built with ipsec: false)' } };
  }
  for (const c of p.value.cmds) {
    try {
      const r = applyOne(stack, c);
      if (r) results.push({ ...r, line: shift(r.line) });
      applied++;
    } catch (e) {
      if (!(e instanceof ApplyFail)) throw e;
      return { applied, results, error: { line: shift(c.line), message: e.message } };
    }
  }
  return { applied, results };
}

/** The daemon's control command. */
export function setkeyHandlers(stack: Stack): Record<string, Handler> {
  return {
    setkey: (args) => {
      const text = args['text'];
      const first = args['firstLine'] ?? 1;
      if (typeof text !== 'string') throw new CtlError('EINVAL', 'setkey: text is a string');
      if (typeof first !== 'number' || !Number.isInteger(first) || first < 1) throw new CtlError('EINVAL', 'setkey: firstLine is a positive integer');
      return applySetkey(stack, text, first);
    },
  };
}

// ---- text ---------------------------------------------------------------------------------------

function spiText(spi: number): string {
  return `${spi}(0x${spi.toString(16).padStart(8, '0')})`;
}

function keyText(hex: string): string {
  return hex.length === 0 ? '' : (hex.match(/.{1,8}/g) ?? []).join(' ');
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** An SA as KAME's `setkey -D` prints it (the fields we keep). */
export function formatSa(s: SaJson): string[] {
  const out = [`${s.src} ${s.dst}`, `\t${s.proto} mode=${s.mode} spi=${spiText(s.spi)} reqid=${s.reqid}(0x${s.reqid.toString(16).padStart(8, '0')})`];
  if (s.enc !== null) out.push(`\tE: ${s.enc}  ${keyText(s.encKey)}`.trimEnd());
  if (s.auth !== null) out.push(`\tA: ${s.auth}  ${keyText(s.authKey)}`);
  if (s.calg !== null) out.push(`\tC: ${s.calg}  cpi=${s.cpi}${s.cpiRaw ? ' (raw)' : ' (well-known)'}`);
  out.push(`\tseq=0x${s.seq.toString(16).padStart(8, '0')} replay=${s.replayWindow} flags=${s.esn ? 'esn' : 'none'} state=${s.state} last-received=0x${s.replaySeq.toString(16).padStart(8, '0')}`);
  out.push(`\tcreated: ${s.age}(s) ago\tlast used: ${s.idle === null ? 'never' : `${s.idle}(s) ago`}`);
  out.push(`\tcurrent: ${s.bytes}(bytes) ${s.packets}(packets)`);
  out.push(`\terrors: replay=${s.errors.replay} too-old=${s.errors.tooOld} auth=${s.errors.authFail} pad=${s.errors.badPad}`);
  return out;
}

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 58: 'icmp6', 41: 'ipv6', 50: 'esp', 51: 'ah', 132: 'sctp' };

/** A policy as `setkey -DP` prints it. */
export function formatPolicy(p: PolicyJson): string[] {
  const icmp = p.proto === 58;
  const port = (v: number | null) => (icmp ? '[any]' : `[${v ?? 'any'}]`);
  let upper = p.proto === null ? 'any' : (PROTO_NAMES[p.proto] ?? String(p.proto));
  if (icmp && p.sport !== null) upper += ` ${p.sport}${p.dport !== null ? `,${p.dport}` : ''}`;
  const out = [`${p.src}${port(p.sport)} ${p.dst}${port(p.dport)} ${upper}`, `\t${p.dir} priority ${p.priority} ${p.action}`];
  for (const r of p.requests) out.push(`\t${r}`);
  out.push(`\tspid=${p.id} hits=${p.hits}`);
  return out;
}

export function formatOutcome(o: SetkeyOutcome): string[] {
  const out: string[] = [];
  for (const r of o.results) {
    if (r.op === 'dump') {
      if (r.sas.length === 0) out.push('No SAD entries.');
      for (const s of r.sas) out.push(...formatSa(s));
    } else if (r.op === 'spddump') {
      if (r.policies.length === 0) out.push('No SPD entries.');
      for (const p of r.policies) out.push(...formatPolicy(p));
    } else out.push(...formatSa(r.sa));
  }
  return out;
}

// ---- the client ---------------------------------------------------------------------------------

/** Pieces of `text` cut at statement boundaries, each small enough for one control request. */
export function chunks(text: string, spans: { start: number; end: number; line: number }[], max = MAX_REQUEST_LINE / 2): { text: string; firstLine: number }[] {
  const out: { text: string; firstLine: number }[] = [];
  let i = 0;
  while (i < spans.length) {
    let j = i;
    // JSON escaping can double a character's size: keep a piece under half the request limit.
    while (j + 1 < spans.length && spans[j + 1]!.end - spans[i]!.start <= max) j++;
    const piece = text.slice(spans[i]!.start, spans[j]!.end);
    if (piece.length > max) throw new Error(`line ${spans[i]!.line}: one statement is longer than ${max} characters`);
    out.push({ text: piece, firstLine: spans[i]!.line });
    i = j + 1;
  }
  return out;
}

export interface SetkeyIo extends Io {
  /** Reads standard input to the end (for -c). */
  readStdin?: () => Promise<string>;
}

async function readAll(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** `tap6 setkey …`: exit 0 on success, 1 on a failed statement or daemon error, 64 on a usage mistake. */
export async function runSetkey(argv: string[], io: SetkeyIo): Promise<number> {
  const usage = (m: string) => {
    io.err(`tap6: setkey: ${m}`);
    io.err(`usage: ${SETKEY_USAGE}`);
    return 64;
  };
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string', short: 'f' },
        stdin: { type: 'boolean', short: 'c' },
        dump: { type: 'boolean', short: 'D' },
        flush: { type: 'boolean', short: 'F' },
        policy: { type: 'boolean', short: 'P' },
        ctl: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    return usage((e as Error).message.split('. ')[0]!);
  }
  const modes = [values.file !== undefined, values.stdin === true, values.dump === true, values.flush === true].filter(Boolean).length;
  if (modes !== 1) return usage('give exactly one of -f FILE, -c, -D, -F');
  if (values.policy && !values.dump && !values.flush) return usage('-P goes with -D or -F');
  let text: string;
  let name: string;
  if (values.file !== undefined) {
    name = values.file;
    try {
      text = readFileSync(values.file, 'utf8');
    } catch (e) {
      io.err(`tap6: setkey: ${values.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      return 1;
    }
  } else if (values.stdin) {
    name = 'stdin';
    text = await (io.readStdin ?? readAll)();
  } else {
    name = 'command';
    text = values.dump ? (values.policy ? 'spddump;' : 'dump;') : values.policy ? 'spdflush;' : 'flush;';
  }
  const parsed = parseSetkey(text);
  if (!parsed.ok) {
    io.err(`tap6: setkey: ${name}:${parsed.error.line}: ${parsed.error.message}`);
    return 1;
  }
  let pieces: { text: string; firstLine: number }[];
  try {
    pieces = chunks(text, parsed.value.spans);
  } catch (e) {
    io.err(`tap6: setkey: ${name}:${(e as Error).message}`);
    return 1;
  }
  let c: CtlClient;
  try {
    c = await CtlClient.connect(resolveCtlPath(values.ctl, io.ctlDir));
  } catch (e) {
    io.err(`tap6: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const all: SetkeyOutcome = { applied: 0, results: [] };
  try {
    for (const p of pieces) {
      const o = (await c.call('setkey', { text: p.text, firstLine: p.firstLine })) as SetkeyOutcome;
      all.applied += o.applied;
      all.results.push(...o.results);
      if (o.error) {
        all.error = o.error;
        break;
      }
    }
  } catch (e) {
    io.err(`tap6: setkey: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    c.close();
  }
  if (values.json) io.out(JSON.stringify(all, null, 2));
  else for (const l of formatOutcome(all)) io.out(l);
  if (all.error) {
    io.err(`tap6: setkey: ${name}:${all.error.line}: ${all.error.message}${all.applied > 0 ? ` (${all.applied} statement${all.applied === 1 ? '' : 's'} before it applied)` : ''}`);
    return 1;
  }
  return 0;
}
