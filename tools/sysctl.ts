/**
 * The stack's tunables under BSD sysctl names (net.inet6.ip6.*,
 * net.inet6.icmp6.*), shared by `tap6 sysctl` (handlers.ts) and
 * `tap6 up --sysctl NAME=VALUE` (daemon.ts).
 *
 * Values are parsed without a stack (so `tap6 up` refuses a bad one before
 * it opens anything) and applied to a stack in a second step. Booleans are
 * 0/1, as BSD prints them; `ifid` is a word.
 *
 * The IPsec oids (net.inet6.ipsec6.*) are KAME's: the system-wide default
 * levels of `default` requests (esp_trans_deflev, esp_net_deflev,
 * ah_trans_deflev, ah_net_deflev: use or require, or KAME's numbers 1 and
 * 2; 3 (unique) and 0 (default) are refused: a system default can neither
 * bind an SA nor refer to itself), the action without a matching policy
 * (def_policy: none or discard, KAME's 1 and 0) and the tunnel ECN mode
 * (ecn: allowed, forbidden or nocare, KAME's 1, 0, -1; src/ipsec/ecn.ts).
 * They print as words.
 *
 * Two names are defaults that BSD keeps per interface: accept_rtadv and
 * dad_count. Setting them here sets the default and every interface's value
 * at once (the daemon has its interface before any setting is applied);
 * `tap6 ndp -i IF [-]accept_rtadv` changes one interface.
 */
import type { Stack } from '../src/stack.ts';

export type SysctlValue = number | string;

interface OidBase {
  name: string;
  description: string;
  get(stack: Stack): SysctlValue;
  /** Absent: read only. */
  set?(stack: Stack, v: SysctlValue): void;
}

interface IntOid extends OidBase {
  type: 'int';
  min: number;
  max: number;
}
interface BoolOid extends OidBase {
  type: 'bool';
}
interface EnumOid extends OidBase {
  type: 'enum';
  choices: readonly string[];
  /** Other spellings accepted on input (KAME's numbers), each mapped to a choice. */
  aliases?: Readonly<Record<string, string>>;
}
export type Oid = IntOid | BoolOid | EnumOid;

/** Per-stack defaults that the stack itself keeps per interface only. */
interface Defaults {
  acceptRtadv: boolean;
  dadCount: number;
}

const defaults = new WeakMap<Stack, Defaults>();

function defaultsOf(stack: Stack): Defaults {
  let d = defaults.get(stack);
  if (!d) {
    // Until set, the value the (first non-loopback) interface has.
    const first = stack.ip6.interfaces().find((st) => st.ifp.lladdr);
    d = {
      acceptRtadv: first ? stack.rtr.config(first.ifp).acceptRtadv : true,
      dadCount: first?.dadTransmits ?? 1,
    };
    defaults.set(stack, d);
  }
  return d;
}

/** Read-only integers take no value; the range is never shown. */
const READ_ONLY_RANGE = { min: 0, max: Number.MAX_SAFE_INTEGER };

const b2n = (b: boolean): number => (b ? 1 : 0);

const LEVEL_ALIASES = { '1': 'use', '2': 'require' };

function deflev(name: 'esp_trans_deflev' | 'esp_net_deflev' | 'ah_trans_deflev' | 'ah_net_deflev', what: string): EnumOid {
  return {
    name: `net.inet6.ipsec6.${name}`,
    type: 'enum',
    choices: ['use', 'require'],
    aliases: LEVEL_ALIASES,
    description: `level of ${what} requests whose level is default`,
    get: (s) => s.ipsec.spd.defaults[name],
    set: (s, v) => {
      const r = s.ipsec.spd.setDefault(name, v);
      if (!r.ok) throw new Error(r.error);
    },
  };
}

const LIST: Oid[] = [
  {
    name: 'net.inet6.ip6.forwarding',
    type: 'bool',
    description: 'act as a router: forward packets, ignore router advertisements and redirects',
    get: (s) => b2n(s.ip6.forwarding),
    set: (s, v) => {
      s.ip6.forwarding = v === 1;
    },
  },
  {
    name: 'net.inet6.ip6.hlim',
    type: 'int',
    min: 1,
    max: 255,
    description: 'default hop limit (also set on every interface until a router advertises one)',
    get: (s) => s.ip6.defaultHopLimit,
    set: (s, v) => {
      s.ip6.defaultHopLimit = v as number;
      for (const st of s.ip6.interfaces()) st.curHopLimit = v as number;
    },
  },
  {
    name: 'net.inet6.ip6.dad_count',
    type: 'int',
    min: 0,
    max: 15,
    description: 'DupAddrDetectTransmits: neighbor solicitations per duplicate address detection (every interface)',
    get: (s) => defaultsOf(s).dadCount,
    set: (s, v) => {
      defaultsOf(s).dadCount = v as number;
      for (const st of s.ip6.interfaces()) st.dadTransmits = v as number;
    },
  },
  {
    name: 'net.inet6.ip6.accept_rtadv',
    type: 'bool',
    description: 'accept router advertisements (default, set on every interface; per interface: ndp -i)',
    get: (s) => b2n(defaultsOf(s).acceptRtadv),
    set: (s, v) => {
      defaultsOf(s).acceptRtadv = v === 1;
      for (const ifp of s.ifs.list()) if (ifp.lladdr) s.rtr.config(ifp).acceptRtadv = v === 1;
    },
  },
  {
    name: 'net.inet6.ip6.use_tempaddr',
    type: 'bool',
    description: 'form RFC 8981 temporary addresses and prefer them as sources',
    get: (s) => b2n(s.slaac.config.tempAddresses),
    set: (s, v) => {
      s.slaac.config.tempAddresses = v === 1;
      s.ip6.preferTemporary = v === 1;
    },
  },
  {
    name: 'net.inet6.ip6.optimistic_dad',
    type: 'bool',
    description: 'RFC 4429 optimistic DAD for autoconfigured addresses',
    get: (s) => b2n(s.slaac.config.optimisticDad),
    set: (s, v) => {
      s.slaac.config.optimisticDad = v === 1;
    },
  },
  {
    name: 'net.inet6.ip6.ifid',
    type: 'enum',
    choices: ['stable', 'eui64'],
    description: 'interface identifiers of autoconfigured addresses: RFC 7217 stable or modified EUI-64',
    get: (s) => s.slaac.config.ifid,
    set: (s, v) => {
      s.slaac.config.ifid = v as 'stable' | 'eui64';
    },
  },
  {
    name: 'net.inet6.ip6.dad_disable_on_ll_dup',
    type: 'bool',
    description: 'disable IPv6 on an interface whose link-local address is duplicated (RFC 4862 5.4.5)',
    get: (s) => b2n(s.ip6.disableOnLinkLocalDad),
    set: (s, v) => {
      s.ip6.disableOnLinkLocalDad = v === 1;
    },
  },
  {
    name: 'net.inet6.ip6.maxfragpackets',
    type: 'int',
    ...READ_ONLY_RANGE,
    description: 'most packets waiting for reassembly',
    get: (s) => s.ip6.reass.limits.maxQueues,
  },
  {
    name: 'net.inet6.ip6.maxfragsperpacket',
    type: 'int',
    ...READ_ONLY_RANGE,
    description: 'most fragments per packet waiting for reassembly',
    get: (s) => s.ip6.reass.limits.maxFragsPerQueue,
  },
  {
    name: 'net.inet6.ip6.pmtu_entries',
    type: 'int',
    ...READ_ONLY_RANGE,
    description: 'destinations in the Path MTU cache',
    get: (s) => s.ip6.pmtu.list().length,
  },
  deflev('esp_trans_deflev', 'ESP transport-mode'),
  deflev('esp_net_deflev', 'ESP tunnel-mode'),
  deflev('ah_trans_deflev', 'AH transport-mode'),
  deflev('ah_net_deflev', 'AH tunnel-mode'),
  {
    name: 'net.inet6.ipsec6.def_policy',
    type: 'enum',
    choices: ['none', 'discard'],
    aliases: { '0': 'discard', '1': 'none' },
    description: 'IPsec policy for packets no SPD entry matches (ND and MLD always pass)',
    get: (s) => s.ipsec.spd.defaults.def_policy,
    set: (s, v) => {
      const r = s.ipsec.spd.setDefault('def_policy', v);
      if (!r.ok) throw new Error(r.error);
    },
  },
  {
    name: 'net.inet6.ipsec6.ecn',
    type: 'enum',
    choices: ['allowed', 'forbidden', 'nocare'],
    aliases: { '1': 'allowed', '0': 'forbidden', '-1': 'nocare', normal: 'allowed', compatibility: 'forbidden' },
    description: 'ECN in IPsec tunnels: allowed (RFC 6040 normal mode), forbidden (compatibility mode), nocare',
    get: (s) => s.ipsec.ecn,
    set: (s, v) => {
      const r = s.ipsec.setEcn(v);
      if (!r.ok) throw new Error(r.error);
    },
  },
  {
    name: 'net.inet6.icmp6.errppslimit',
    type: 'int',
    min: 0,
    max: 1_000_000,
    description: 'ICMPv6 error messages sent per second, on average',
    get: (s) => s.icmp6.rateLimit.ratePerSec,
    set: (s, v) => s.icmp6.setRateLimit({ ...s.icmp6.rateLimit, ratePerSec: v as number }),
  },
  {
    name: 'net.inet6.icmp6.errburst',
    type: 'int',
    min: 0,
    max: 1_000_000,
    description: 'ICMPv6 error messages sent in a burst',
    get: (s) => s.icmp6.rateLimit.burst,
    set: (s, v) => s.icmp6.setRateLimit({ ...s.icmp6.rateLimit, burst: v as number }),
  },
];

const OIDS: readonly Oid[] = LIST.sort((a, b) => (a.name < b.name ? -1 : 1));

export function sysctlOids(): readonly Oid[] {
  return OIDS;
}

export function findOid(name: string): Oid | undefined {
  return OIDS.find((o) => o.name === name);
}

/** The oids a name selects: itself, or every oid below a node ("net.inet6.icmp6"); empty if none. */
export function selectOids(name: string): Oid[] {
  const exact = findOid(name);
  if (exact) return [exact];
  return OIDS.filter((o) => o.name.startsWith(`${name}.`));
}

/** What a value may be, for messages: "0 or 1", "an integer 1..255", "stable or eui64". */
export function allowed(o: Oid): string {
  switch (o.type) {
    case 'bool':
      return '0 or 1';
    case 'int':
      return `an integer ${o.min}..${o.max}`;
    case 'enum': {
      const words = o.choices.join(' or ');
      const nums = Object.keys(o.aliases ?? {}).filter((k) => /^-?[0-9]+$/.test(k));
      return nums.length > 0 ? `${words}; KAME's ${nums.map((k) => `${k} = ${o.aliases![k]}`).join(', ')}` : words;
    }
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Why a setting was refused, as an errno name: no such oid, read only, bad value. */
export type SysctlRefusal = 'ENOENT' | 'EPERM' | 'EINVAL';

/** Checks a value typed by a user against an oid; the error is the sentence to print. */
export function parseSysctlValue(name: string, text: string): { ok: true; value: { oid: Oid; value: SysctlValue } } | { ok: false; error: string; code: SysctlRefusal } {
  const oid = findOid(name);
  if (!oid) return { ok: false, error: `unknown oid '${name}'`, code: 'ENOENT' };
  if (!oid.set) return { ok: false, error: `oid '${name}' is read only`, code: 'EPERM' };
  const bad = { ok: false as const, error: `${name}: bad value '${text}' (${allowed(oid)})`, code: 'EINVAL' as const };
  switch (oid.type) {
    case 'bool':
      return text === '0' || text === '1' ? { ok: true, value: { oid, value: Number(text) } } : bad;
    case 'int': {
      if (!/^[0-9]{1,10}$/.test(text)) return bad;
      const n = Number(text);
      return n >= oid.min && n <= oid.max ? { ok: true, value: { oid, value: n } } : bad;
    }
    case 'enum': {
      const word = oid.choices.includes(text) ? text : oid.aliases && Object.hasOwn(oid.aliases, text) ? oid.aliases[text] : undefined;
      return word !== undefined ? { ok: true, value: { oid, value: word } } : bad;
    }
  }
}

/** Splits "NAME=VALUE" (value required). */
export function splitAssignment(text: string): Parsed<{ name: string; value: string }> {
  const i = text.indexOf('=');
  if (i <= 0) return { ok: false, error: `'${text}': expected NAME=VALUE` };
  return { ok: true, value: { name: text.slice(0, i), value: text.slice(i + 1) } };
}

/** Sets a parsed value; returns the old one. */
export function applySysctl(stack: Stack, oid: Oid, value: SysctlValue): SysctlValue {
  const old = oid.get(stack);
  oid.set!(stack, value);
  return old;
}
