/**
 * The setkey grammar (KAME/ipsec-tools `setkey.conf`), the subset tap6's
 * static keying needs, as a pure parser: text in, a list of commands with
 * their line numbers out, or the first error with its line. Nothing here
 * touches a stack (setkey-run.ts applies the commands in the daemon).
 *
 * Statements end with ';' and may span lines; '#' starts a comment.
 *
 *   add [-46n] SRC DST esp|ah SPI [-m transport|tunnel|any] [-r WINDOW] [-u REQID] [-e esn]
 *       [-E EALGO KEY] [-A AALGO KEY] ;
 *   add [-46n] SRC DST ipcomp CPI [-m transport|tunnel|any] [-u REQID] -C deflate [-R] ;
 *   get SRC DST PROTO SPI ;           delete SRC DST PROTO SPI ;
 *   deleteall SRC DST PROTO ;         flush [PROTO] ;         dump [PROTO] ;
 *   (PROTO: esp, ah or ipcomp)
 *   spdadd [-46n] SRC_RANGE DST_RANGE UPPERSPEC -P in|out [priority N] discard|none|ipsec REQUEST... ;
 *   spddelete SRC_RANGE DST_RANGE UPPERSPEC -P in|out ;
 *   spdflush ;                        spddump ;
 *
 * SRC, DST: IPv6 addresses, "fe80::1%vl0" for a scoped one. SPI: decimal
 * or 0x hex. KEY: 0x hex, or a "quoted string" (its bytes). Algorithms by
 * KAME's names: encryption aes-gcm-16 (RFC 4106; key material is key ‖
 * 4-byte salt), rijndael-cbc or aes-cbc, chacha20-poly1305 (key ‖ salt),
 * null; authentication hmac-sha1 (HMAC-SHA1-96), hmac-sha256 or
 * hmac-sha2-256 (HMAC-SHA-256-128). -r is the anti-replay window in packets
 * (FreeBSD's setkey reads it in bytes; see IMPLEMENTATION.md), -e esn turns
 * on 64-bit sequence numbers. IPComp (RFC 3173): the CPI is 1..65535;
 * `-C deflate` is the only algorithm (RFC 2394); as in KAME, the wire
 * carries DEFLATE's well-known CPI 2 unless `-R` says the given CPI goes on
 * the wire as it is.
 *
 * SRC_RANGE, DST_RANGE: ADDRESS[/PLEN][[PORT]] — "2001:db8::/32",
 * "2001:db8::1[500]", "::/0[any]"; without /PLEN the whole address.
 * UPPERSPEC: any, tcp, udp, icmp6 [TYPE[,CODE]], or a protocol number.
 * Priority (ipsec-tools): `priority N` or `prio N`, N a number or
 * low|def|high with an optional +N/-N (0xc0000000, 0x80000000, 0x40000000:
 * lower goes first). REQUEST: PROTO/MODE/SRC-DST/LEVEL as ipsec_set_policy
 * reads it ("esp/transport//require", "esp/tunnel/2001:db8::1-2001:db8::2/use").
 */
import { fromHex } from '../src/core/bytes.ts';
import { err, ok, type Result } from '../src/core/result.ts';
import { parseIn6 } from '../src/ip6/addr.ts';
import type { AuthAlgorithm, EncAlgorithm } from '../src/ipsec/crypto.ts';
import { PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW, parseRequest } from '../src/ipsec/spd.ts';

export interface SetkeyError {
  line: number;
  message: string;
}

/** A selector range as typed: address text (zone included), prefix length, port (undefined: any). */
export interface RangeText {
  addr: string;
  plen: number;
  port?: number;
}

interface Base {
  /** Line of the statement's first word. */
  line: number;
}

export type SaProtoText = 'esp' | 'ah' | 'ipcomp';

export interface AddCmd extends Base {
  op: 'add';
  src: string;
  dst: string;
  proto: SaProtoText;
  spi: number;
  mode: 'transport' | 'tunnel';
  enc?: EncAlgorithm;
  /** Hex. */
  encKey?: string;
  auth?: AuthAlgorithm;
  authKey?: string;
  replay?: number;
  reqid?: number;
  esn: boolean;
  /** IPComp: the compression algorithm, and -R (the CPI goes on the wire as given). */
  calg?: 'deflate';
  cpiRaw?: boolean;
}

export interface SaRefCmd extends Base {
  op: 'get' | 'delete';
  src: string;
  dst: string;
  proto: SaProtoText;
  spi: number;
}

export interface DeleteAllCmd extends Base {
  op: 'deleteall';
  src: string;
  dst: string;
  proto: SaProtoText;
}

export interface SadCmd extends Base {
  op: 'flush' | 'dump';
  proto?: SaProtoText;
}

export interface SpdSelectorText {
  src: RangeText;
  dst: RangeText;
  /** Upper-layer protocol number, undefined: any. */
  proto?: number;
  icmpType?: number;
  icmpCode?: number;
  dir: 'in' | 'out';
}

export interface SpdAddCmd extends Base, SpdSelectorText {
  op: 'spdadd';
  action: 'discard' | 'none' | 'ipsec';
  /** Request texts, checked by parseRequest. */
  requests: string[];
  priority?: number;
}

export interface SpdDeleteCmd extends Base, SpdSelectorText {
  op: 'spddelete';
}

export interface SpdCmd extends Base {
  op: 'spdflush' | 'spddump';
}

export type SetkeyCmd = AddCmd | SaRefCmd | DeleteAllCmd | SadCmd | SpdAddCmd | SpdDeleteCmd | SpdCmd;

/** A statement's place in the text: [start, end) offsets, for splitting a long input on statement boundaries. */
export interface Span {
  start: number;
  end: number;
  line: number;
}

interface Token {
  text: string;
  line: number;
  quoted: boolean;
}

/** Most statements in one input (every table is bounded; the SPD and SAD have their own bounds too). */
export const MAX_STATEMENTS = 100_000;

const ENC_NAMES: Record<string, EncAlgorithm> = {
  'aes-gcm-16': 'aes-gcm-16',
  'rijndael-cbc': 'aes-cbc',
  'aes-cbc': 'aes-cbc',
  'chacha20-poly1305': 'chacha20-poly1305',
  null: 'null',
};
const AUTH_NAMES: Record<string, AuthAlgorithm> = {
  'hmac-sha1': 'hmac-sha1-96',
  'hmac-sha256': 'hmac-sha256-128',
  'hmac-sha2-256': 'hmac-sha256-128',
};
/** KAME's names for what we hold, for dump output. */
export const ENC_KAME: Record<EncAlgorithm, string> = { 'aes-gcm-16': 'aes-gcm-16', 'aes-cbc': 'rijndael-cbc', 'chacha20-poly1305': 'chacha20-poly1305', null: 'null' };
export const AUTH_KAME: Record<AuthAlgorithm, string> = { 'hmac-sha1-96': 'hmac-sha1', 'hmac-sha256-128': 'hmac-sha2-256', none: 'none' };

const UPPER: Record<string, number | undefined> = { any: undefined, tcp: 6, udp: 17, icmp6: 58, 'ipv6-icmp': 58, ipv6: 41, esp: 50, ah: 51, gre: 47, sctp: 132 };

class ParseFail extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** Parses a whole input; nothing is returned (so nothing is applied) unless every statement is good. */
export function parseSetkey(text: string): Result<{ cmds: SetkeyCmd[]; spans: Span[] }, SetkeyError> {
  try {
    const cmds: SetkeyCmd[] = [];
    const spans: Span[] = [];
    for (const st of statements(text)) {
      if (cmds.length >= MAX_STATEMENTS) throw new ParseFail(st.tokens[0]!.line, `more than ${MAX_STATEMENTS} statements`);
      cmds.push(statement(st.tokens));
      spans.push({ start: st.start, end: st.end, line: st.tokens[0]!.line });
    }
    return ok({ cmds, spans });
  } catch (e) {
    if (e instanceof ParseFail) return err({ line: e.line, message: e.message });
    throw e;
  }
}

// ---- tokens -------------------------------------------------------------------------

interface Statement {
  tokens: Token[];
  start: number;
  /** Offset just past the ';'. */
  end: number;
}

function* statements(text: string): Generator<Statement> {
  let line = 1;
  let i = 0;
  let cur: Token[] = [];
  let start = -1;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '\n') {
      line++;
      i++;
    } else if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      i++;
    } else if (ch === '#') {
      while (i < n && text[i] !== '\n') i++;
    } else if (ch === ';') {
      i++;
      if (cur.length > 0) yield { tokens: cur, start, end: i };
      cur = [];
      start = -1;
    } else if (ch === '"') {
      const j = text.indexOf('"', i + 1);
      const nl = text.indexOf('\n', i + 1);
      if (j < 0 || (nl >= 0 && nl < j)) throw new ParseFail(line, 'unterminated "string"');
      if (start < 0) start = i;
      cur.push({ text: text.slice(i + 1, j), line, quoted: true });
      i = j + 1;
    } else {
      let j = i;
      while (j < n && !/[\s;#"]/.test(text[j]!)) j++;
      if (start < 0) start = i;
      cur.push({ text: text.slice(i, j), line, quoted: false });
      i = j;
    }
  }
  if (cur.length > 0) throw new ParseFail(cur[cur.length - 1]!.line, `missing ';' after '${cur[0]!.text}' statement`);
}

/** A cursor over one statement's tokens. */
class Words {
  private i = 0;
  constructor(private readonly t: Token[]) {}
  get line(): number {
    return (this.t[this.i] ?? this.t[this.t.length - 1]!).line;
  }
  peek(): string | undefined {
    const w = this.t[this.i];
    return w && !w.quoted ? w.text : undefined;
  }
  more(): boolean {
    return this.i < this.t.length;
  }
  next(what: string): Token {
    const w = this.t[this.i];
    if (!w) throw new ParseFail(this.t[this.t.length - 1]!.line, `expected ${what} before ';'`);
    this.i++;
    return w;
  }
  word(what: string): string {
    const w = this.next(what);
    if (w.quoted) throw new ParseFail(w.line, `expected ${what}, got a quoted string`);
    return w.text;
  }
  end(): void {
    const w = this.t[this.i];
    if (w) throw new ParseFail(w.line, `unexpected '${w.text}'`);
  }
}

// ---- statements -----------------------------------------------------------------------

function statement(tokens: Token[]): SetkeyCmd {
  const w = new Words(tokens);
  const line = tokens[0]!.line;
  const op = w.word('a command');
  let c: SetkeyCmd;
  switch (op) {
    case 'add':
      c = add(w, line);
      break;
    case 'get':
    case 'delete': {
      families(w);
      const src = address(w, 'source');
      const dst = address(w, 'destination');
      c = { op, line, src, dst, proto: proto(w), spi: spi(w) };
      break;
    }
    case 'deleteall': {
      families(w);
      const src = address(w, 'source');
      const dst = address(w, 'destination');
      c = { op, line, src, dst, proto: proto(w) };
      break;
    }
    case 'flush':
    case 'dump': {
      const p = w.peek();
      c = { op, line };
      if (p !== undefined) c.proto = proto(w);
      break;
    }
    case 'spdadd':
      c = spdadd(w, line);
      break;
    case 'spddelete': {
      families(w);
      const sel = selector(w);
      c = { op, line, ...sel, dir: direction(w) };
      break;
    }
    case 'spdflush':
    case 'spddump':
      c = { op, line };
      break;
    default:
      throw new ParseFail(line, `unknown command '${op}' (add, get, delete, deleteall, flush, dump, spdadd, spddelete, spdflush, spddump)`);
  }
  w.end();
  return c;
}

/** -4 / -6 / -n after the command word: IPv6 only here, and output is always numeric. */
function families(w: Words): void {
  for (let p = w.peek(); p !== undefined && /^-[46n]+$/.test(p); p = w.peek()) {
    if (p.includes('4')) throw new ParseFail(w.line, '-4: tap6 is IPv6-only');
    w.word('option');
  }
}

function address(w: Words, what: string): string {
  const t = w.word(`the ${what} address`);
  const r = parseIn6(t);
  if (!r.ok) throw new ParseFail(w.line, `${what}: ${r.error}`);
  return t;
}

function proto(w: Words): SaProtoText {
  const line = w.line;
  const p = w.word('a protocol (esp, ah or ipcomp)');
  if (p === 'esp' || p === 'ah' || p === 'ipcomp') return p;
  if (p === 'esp-old' || p === 'ah-old' || p === 'tcp') throw new ParseFail(line, `protocol '${p}' is not supported (esp, ah, ipcomp)`);
  throw new ParseFail(line, `expected esp, ah or ipcomp, got '${p}'`);
}

function number(w: Words, what: string, max: number): number {
  const line = w.line;
  const t = w.word(what);
  const v = /^0x[0-9a-fA-F]+$/.test(t) ? parseInt(t.slice(2), 16) : /^[0-9]+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v > max) throw new ParseFail(line, `bad ${what} '${t}' (0..${max}, decimal or 0x hex)`);
  return v;
}

function spi(w: Words): number {
  return number(w, 'SPI', 0xffff_ffff);
}

function key(w: Words, alg: string): string {
  const k = w.next(`the key of ${alg}`);
  if (k.quoted) return Buffer.from(k.text, 'utf8').toString('hex');
  if (!/^0x([0-9a-fA-F]{2})*$/.test(k.text)) throw new ParseFail(k.line, `key of ${alg}: expected 0x followed by an even number of hex digits, or a "quoted string"`);
  return k.text.slice(2).toLowerCase();
}

function add(w: Words, line: number): AddCmd {
  families(w);
  const src = address(w, 'source');
  const dst = address(w, 'destination');
  const c: AddCmd = { op: 'add', line, src, dst, proto: proto(w), spi: spi(w), mode: 'transport', esn: false };
  const seen = new Set<string>();
  while (w.more()) {
    const optLine = w.line;
    const o = w.word('an option');
    if (seen.has(o)) throw new ParseFail(optLine, `${o} given twice`);
    seen.add(o);
    switch (o) {
      case '-m': {
        const m = w.word('a mode (transport, tunnel, any)');
        if (m === 'transport' || m === 'any') c.mode = 'transport';
        else if (m === 'tunnel') c.mode = 'tunnel';
        else throw new ParseFail(optLine, `-m: mode is transport, tunnel or any, not '${m}'`);
        break;
      }
      case '-r':
        c.replay = number(w, 'replay window (packets)', 65536);
        break;
      case '-u':
        c.reqid = number(w, 'reqid', 0xffff_ffff);
        break;
      case '-e': {
        const f = w.word("'esn'");
        if (f !== 'esn') throw new ParseFail(optLine, `-e: only 'esn' (extended sequence numbers), not '${f}'`);
        c.esn = true;
        break;
      }
      case '-E': {
        const name = w.word('an encryption algorithm');
        const alg = ENC_NAMES[name];
        if (!alg) throw new ParseFail(optLine, `-E: encryption algorithm '${name}' is not supported (${Object.keys(ENC_NAMES).join(', ')})`);
        c.enc = alg;
        c.encKey = alg === 'null' && (w.peek() === undefined || w.peek()!.startsWith('-')) ? '' : key(w, name);
        break;
      }
      case '-A': {
        const name = w.word('an authentication algorithm');
        const alg = AUTH_NAMES[name];
        if (!alg) throw new ParseFail(optLine, `-A: authentication algorithm '${name}' is not supported (${Object.keys(AUTH_NAMES).join(', ')})`);
        c.auth = alg;
        c.authKey = key(w, name);
        break;
      }
      case '-C': {
        const name = w.word('a compression algorithm');
        if (name !== 'deflate') throw new ParseFail(optLine, `-C: compression algorithm '${name}' is not supported (deflate)`);
        c.calg = name;
        break;
      }
      case '-R':
        c.cpiRaw = true;
        break;
      case '-lh':
      case '-ls':
      case '-bh':
      case '-bs':
        throw new ParseFail(optLine, `${o}: SA lifetimes are not enforced yet (the key daemon's issue)`);
      case '-f':
      case '-s':
        throw new ParseFail(optLine, `${o} is not supported`);
      default:
        throw new ParseFail(optLine, `unknown option '${o}' (-m, -r, -u, -e esn, -E, -A, -C, -R)`);
    }
  }
  if (c.proto === 'ipcomp') {
    if (c.spi < 1 || c.spi > 0xffff) throw new ParseFail(line, `ipcomp: CPI ${c.spi} outside 1..65535`);
    if (!c.calg) throw new ParseFail(line, 'ipcomp needs -C deflate');
    if (c.enc || c.auth) throw new ParseFail(line, 'ipcomp takes no -E or -A');
    if (c.replay !== undefined || c.esn) throw new ParseFail(line, 'ipcomp has no sequence numbers: no -r or -e');
    return c;
  }
  if (c.calg || c.cpiRaw) throw new ParseFail(line, `${c.proto} does not compress: -C and -R are for ipcomp`);
  if (c.proto === 'esp' && !c.enc) throw new ParseFail(line, 'esp needs -E ALGORITHM KEY (-E null with -A for authentication only)');
  if (c.proto === 'ah') {
    if (c.enc) throw new ParseFail(line, 'ah does not encrypt: no -E');
    if (!c.auth) throw new ParseFail(line, 'ah needs -A ALGORITHM KEY');
  }
  return c;
}

function range(w: Words, what: string): RangeText {
  const line = w.line;
  const t = w.word(`the ${what} range`);
  const m = /^([^/[\]]+)(?:\/([0-9]+))?(?:\[([^\]]*)\])?$/.exec(t);
  if (!m) throw new ParseFail(line, `${what}: expected ADDRESS[/PLEN][[PORT]], got '${t}'`);
  const a = parseIn6(m[1]!);
  if (!a.ok) throw new ParseFail(line, `${what}: ${a.error}`);
  const plen = m[2] === undefined ? 128 : Number(m[2]);
  if (plen > 128) throw new ParseFail(line, `${what}: prefix length ${plen} is over 128`);
  const r: RangeText = { addr: m[1]!, plen };
  if (m[3] !== undefined && m[3] !== 'any') {
    if (!/^[0-9]+$/.test(m[3]) || Number(m[3]) > 65535) throw new ParseFail(line, `${what}: bad port '${m[3]}' (0..65535 or any)`);
    r.port = Number(m[3]);
  }
  return r;
}

function selector(w: Words): Omit<SpdSelectorText, 'dir'> {
  const src = range(w, 'source');
  const dst = range(w, 'destination');
  const line = w.line;
  const u = w.word('an upper-layer protocol (any, tcp, udp, icmp6 or a number)');
  let proto: number | undefined;
  if (u in UPPER) proto = UPPER[u];
  else if (/^[0-9]+$/.test(u) && Number(u) <= 255) proto = Number(u) === 255 ? undefined : Number(u);
  else throw new ParseFail(line, `unknown upper-layer protocol '${u}' (any, tcp, udp, icmp6, or 0..255)`);
  const sel: Omit<SpdSelectorText, 'dir'> = { src, dst };
  if (proto !== undefined) sel.proto = proto;
  if (proto === 58) {
    const tc = w.peek();
    if (tc !== undefined && /^[0-9]+(,[0-9]+)?$/.test(tc)) {
      w.word('type,code');
      const [ty, co] = tc.split(',').map(Number) as [number, number | undefined];
      if (ty > 255 || (co ?? 0) > 255) throw new ParseFail(line, `icmp6 type,code out of range: '${tc}'`);
      sel.icmpType = ty;
      if (co !== undefined) sel.icmpCode = co;
    }
  }
  if ((src.port !== undefined || dst.port !== undefined) && proto !== 6 && proto !== 17 && proto !== 132) {
    throw new ParseFail(line, 'ports need tcp, udp or sctp as the upper-layer protocol');
  }
  return sel;
}

function direction(w: Words): 'in' | 'out' {
  const line = w.line;
  const p = w.word('-P');
  if (p !== '-P') throw new ParseFail(line, `expected -P in|out, got '${p}'`);
  const d = w.word('a direction (in or out)');
  if (d === 'fwd') throw new ParseFail(line, "-P fwd: tap6 does not forward");
  if (d !== 'in' && d !== 'out') throw new ParseFail(line, `direction is in or out, not '${d}'`);
  return d;
}

function priority(w: Words): number {
  const line = w.line;
  const t = w.word('a priority');
  const m = /^(low|def|default|high)?([+-][0-9]+)?$/.exec(t);
  if (m?.[1]) {
    const base = m[1] === 'low' ? PRIORITY_LOW : m[1] === 'high' ? PRIORITY_HIGH : PRIORITY_DEFAULT;
    const v = base + Number(m[2] ?? 0);
    if (v < 0 || v > 0xffff_ffff) throw new ParseFail(line, `priority '${t}' out of range`);
    return v;
  }
  const v = /^0x[0-9a-fA-F]+$/.test(t) ? parseInt(t.slice(2), 16) : /^[0-9]+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v > 0xffff_ffff) throw new ParseFail(line, `bad priority '${t}' (a number 0..4294967295, or low|def|high[+-N])`);
  return v;
}

function spdadd(w: Words, line: number): SpdAddCmd {
  families(w);
  const sel = selector(w);
  const dir = direction(w);
  let prio: number | undefined;
  if (w.peek() === 'priority' || w.peek() === 'prio') {
    w.word('priority');
    prio = priority(w);
  }
  const aLine = w.line;
  const action = w.word('a policy (discard, none or ipsec)');
  if (action === 'entrust' || action === 'bypass') throw new ParseFail(aLine, `'${action}' is a socket policy; spdadd takes discard, none or ipsec`);
  if (action !== 'discard' && action !== 'none' && action !== 'ipsec') throw new ParseFail(aLine, `policy is discard, none or ipsec, not '${action}'`);
  const requests: string[] = [];
  while (w.more()) {
    const rl = w.line;
    const t = w.word('a request');
    const r = parseRequest(t);
    if (!r.ok) throw new ParseFail(rl, r.error);
    requests.push(t);
  }
  if (action === 'ipsec' && requests.length === 0) throw new ParseFail(aLine, 'ipsec needs at least one request, e.g. esp/transport//require');
  if (action !== 'ipsec' && requests.length > 0) throw new ParseFail(aLine, `${action} takes no requests`);
  return { op: 'spdadd', line, ...sel, dir, action, requests, ...(prio !== undefined ? { priority: prio } : {}) };
}

/** Key text (hex) to bytes. */
export function keyBytes(hex: string | undefined): Uint8Array {
  return hex ? fromHex(hex) : new Uint8Array(0);
}
