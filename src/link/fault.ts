/**
 * The fault injector: a link-layer filter that loses, duplicates, reorders,
 * delays and corrupts frames under the injected Rng and Clock. The kernels
 * here have no netem, so this is how tests, `tap6 up --impair` and `tap6
 * ifconfig IF impair` (Stack.setImpairment) impair a link, the TAP
 * included. Each direction has its own spec.
 *
 * Order per frame: loss, corruption, duplication, then reorder or delay.
 * - loss: dropped with probability `loss`.
 * - corrupt: with probability `corrupt`, one random bit of a copy is flipped,
 *   past the Ethernet header unless `corruptHeader` (so that the frame still
 *   reaches the stack and exercises its checksums).
 * - dup: with probability `dup`, a copy is sent as well.
 * - reorder: with probability `reorder`, the frame is held back and released
 *   right after the next frame in the same direction, or `reorderHoldMs`
 *   later if none comes.
 * - delay: every frame waits `delayMs` ± uniform `jitterMs` (jitter alone can
 *   reorder, as with netem).
 * Frames held or delayed are copies (rx frames are borrowed) and are bounded
 * by `maxQueued`; overflow is dropped and counted.
 */
import type { Clock } from '../core/clock.ts';
import { counterSet } from '../core/counters.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { Rng } from '../core/rng.ts';
import type { Dir, FrameFilter } from './driver.ts';
import { ETHER_HDR_LEN } from './ether.ts';

export interface FaultSpec {
  loss?: number;
  dup?: number;
  reorder?: number;
  reorderHoldMs?: number;
  corrupt?: number;
  corruptHeader?: boolean;
  delayMs?: number;
  jitterMs?: number;
}

export interface FaultInjectorOptions {
  clock: Clock;
  rng: Rng;
  /** Applies to both directions unless tx/rx say otherwise. */
  both?: FaultSpec;
  tx?: FaultSpec;
  rx?: FaultSpec;
  /** Frames held or delayed at most, per direction (default 10000). */
  maxQueued?: number;
  /** Interfaces without an Ethernet header (lo0) set this to 0. */
  linkHeaderLen?: number;
  /** Filter name (default 'faults'). */
  name?: string;
  /** Name of the counter set (default 'faults'; the stack uses 'faults IF'). */
  statsName?: string;
}

/** An impairment as typed: both directions, then what one direction overrides. */
export interface ImpairSpec {
  both?: FaultSpec;
  tx?: FaultSpec;
  rx?: FaultSpec;
}

type Next = (frame: Uint8Array) => void;

interface DirState {
  spec: Required<FaultSpec>;
  held: { frame: Uint8Array; next: Next }[];
  queued: number;
}

const PROBS = ['loss', 'dup', 'reorder', 'corrupt'] as const;

function normalise(s: FaultSpec | undefined): Required<FaultSpec> {
  const spec: Required<FaultSpec> = {
    loss: s?.loss ?? 0,
    dup: s?.dup ?? 0,
    reorder: s?.reorder ?? 0,
    reorderHoldMs: s?.reorderHoldMs ?? 10,
    corrupt: s?.corrupt ?? 0,
    corruptHeader: s?.corruptHeader ?? false,
    delayMs: s?.delayMs ?? 0,
    jitterMs: s?.jitterMs ?? 0,
  };
  for (const k of PROBS) {
    const v = spec[k];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`fault injector: ${k} must be a probability in [0, 1], got ${v}`);
  }
  for (const k of ['reorderHoldMs', 'delayMs', 'jitterMs'] as const) {
    const v = spec[k];
    if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`fault injector: ${k} must be >= 0 ms, got ${v}`);
  }
  return spec;
}

export class FaultInjector implements FrameFilter {
  readonly name: string;
  readonly stats;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly maxQueued: number;
  private readonly hdrLen: number;
  private readonly dirs: Record<Dir, DirState>;
  private closed = false;

  constructor(opts: FaultInjectorOptions) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.maxQueued = opts.maxQueued ?? 10000;
    this.hdrLen = opts.linkHeaderLen ?? ETHER_HDR_LEN;
    this.name = opts.name ?? 'faults';
    this.stats = faultCounters(opts.statsName ?? 'faults');
    this.dirs = {
      tx: { spec: normalise({ ...opts.both, ...opts.tx }), held: [], queued: 0 },
      rx: { spec: normalise({ ...opts.both, ...opts.rx }), held: [], queued: 0 },
    };
  }

  /** Replaces a direction's spec at run time (e.g. heal a link mid-test). */
  setSpec(dir: Dir, spec: FaultSpec): void {
    this.dirs[dir].spec = normalise(spec);
  }

  /** Replaces both directions' specs (keys left out go back to 0); all or nothing. */
  configure(spec: ImpairSpec): void {
    const tx = normalise({ ...spec.both, ...spec.tx });
    const rx = normalise({ ...spec.both, ...spec.rx });
    this.dirs.tx.spec = tx;
    this.dirs.rx.spec = rx;
  }

  spec(dir: Dir): Readonly<Required<FaultSpec>> {
    return this.dirs[dir].spec;
  }

  filter(dir: Dir, frame: Uint8Array, next: Next): void {
    const st = this.dirs[dir];
    const s = st.spec;
    const rng = this.rng;
    if (s.loss > 0 && rng.float() < s.loss) {
      this.stats.c.lost++;
      return;
    }
    if (s.corrupt > 0 && rng.float() < s.corrupt) {
      const from = s.corruptHeader ? 0 : Math.min(this.hdrLen, frame.length);
      if (frame.length > from) {
        frame = frame.slice();
        const bit = rng.below((frame.length - from) * 8);
        frame[from + (bit >>> 3)]! ^= 1 << (bit & 7);
        this.stats.c.corrupted++;
      }
    }
    const copies = s.dup > 0 && rng.float() < s.dup ? 2 : 1;
    if (copies === 2) this.stats.c.duplicated++;
    for (let i = 0; i < copies; i++) {
      // Every copy handed on is its own buffer: receivers may build replies in place.
      const f = i === 0 ? frame : frame.slice();
      this.pass(st, f, next);
    }
  }

  private pass(st: DirState, frame: Uint8Array, next: Next): void {
    const s = st.spec;
    if (s.reorder > 0 && this.rng.float() < s.reorder) {
      if (st.queued >= this.maxQueued) {
        this.stats.c.overflow++;
        return;
      }
      this.stats.c.reordered++;
      const h = { frame: frame.slice(), next };
      st.held.push(h);
      st.queued++;
      this.clock.timer(s.reorderHoldMs, () => this.release(st, h));
      return;
    }
    const delay = s.delayMs + (s.jitterMs > 0 ? this.rng.uniform(-s.jitterMs, s.jitterMs) : 0);
    if (delay > 0) {
      if (st.queued >= this.maxQueued) {
        this.stats.c.overflow++;
        return;
      }
      this.stats.c.delayed++;
      st.queued++;
      const copy = frame.slice();
      this.clock.timer(delay, () => {
        if (this.closed) return;
        st.queued--;
        this.emit(copy, next);
        this.flushHeld(st);
      });
      return;
    }
    this.emit(frame, next);
    this.flushHeld(st);
  }

  private emit(frame: Uint8Array, next: Next): void {
    this.stats.c.passed++;
    next(frame);
  }

  /** Releases frames held for reordering now that a later frame went out. */
  private flushHeld(st: DirState): void {
    while (st.held.length > 0) {
      const h = st.held.shift()!;
      st.queued--;
      this.emit(h.frame, h.next);
    }
  }

  private release(st: DirState, h: { frame: Uint8Array; next: Next }): void {
    const i = st.held.indexOf(h);
    if (i < 0 || this.closed) return;
    st.held.splice(i, 1);
    st.queued--;
    this.emit(h.frame, h.next);
  }

  /** Frames still held or delayed are dropped, and counted as `discarded`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const st of Object.values(this.dirs)) {
      this.stats.c.discarded += st.queued;
      st.queued = 0;
      st.held.length = 0;
    }
  }
}

function faultCounters(name: string) {
  return counterSet(name, {
    passed: 'frames passed',
    lost: 'frames dropped (loss)',
    corrupted: 'frames corrupted (one bit flipped)',
    duplicated: 'frames duplicated',
    reordered: 'frames held back for reordering',
    delayed: 'frames delayed',
    overflow: 'frames dropped: fault queue full',
    discarded: 'frames dropped: held or delayed when the injector was removed',
  });
}

/** The longest delay, jitter or reorder hold a typed spec may ask for (ms). */
export const MAX_FAULT_MS = 60_000;

/** The words of a typed spec and the fields they set, in the order formatFaultSpec prints them. */
const KEY_MAP: Record<string, Exclude<keyof FaultSpec, 'corruptHeader'>> = {
  loss: 'loss',
  dup: 'dup',
  reorder: 'reorder',
  corrupt: 'corrupt',
  delay: 'delayMs',
  jitter: 'jitterMs',
  hold: 'reorderHoldMs',
};

/**
 * Parses an impairment spec as typed on a command line:
 *   "loss=0.01,dup=0.001,reorder=0.05,corrupt=0.001,delay=20ms,jitter=5ms"
 * Probabilities may be given as percentages ("loss=1%"); times are ms (the
 * unit may be left out), at most MAX_FAULT_MS. Prefix a key with "tx." or
 * "rx." to impair one direction only. A key given twice: the last one wins.
 */
export function parseFaultSpec(text: string): Result<{ both: FaultSpec; tx: FaultSpec; rx: FaultSpec }, string> {
  const out = { both: {} as FaultSpec, tx: {} as FaultSpec, rx: {} as FaultSpec };
  const keyMap = KEY_MAP;
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(?:(tx|rx)\.)?([a-z]+)=([0-9]*\.?[0-9]+)(%|ms)?$/.exec(part);
    if (!m) return err(`bad impairment '${part}': expected key=value, e.g. loss=1% or delay=20ms`);
    const [, dir, key, num, unit] = m;
    // Own keys only: 'constructor' and friends live on Object.prototype.
    const field = Object.hasOwn(keyMap, key!) ? keyMap[key!] : undefined;
    if (!field) return err(`unknown impairment '${key}': one of ${Object.keys(keyMap).join(', ')}`);
    const isTime = field === 'delayMs' || field === 'jitterMs' || field === 'reorderHoldMs';
    if (isTime && unit === '%') return err(`'${key}' is a time: use ms`);
    if (!isTime && unit === 'ms') return err(`'${key}' is a probability: use 0..1 or a percentage`);
    let v = Number(num);
    if (unit === '%') v /= 100;
    if (!isTime && v > 1) return err(`'${key}' must be at most 1 (or 100%), got ${num}${unit ?? ''}`);
    if (isTime && !(v <= MAX_FAULT_MS)) return err(`'${key}' must be at most ${MAX_FAULT_MS}ms, got ${num}${unit ?? ''}`);
    (out[(dir as Dir | undefined) ?? 'both'] as Record<string, number>)[field] = v;
  }
  return ok(out);
}

/** A number in the parser's syntax (no exponent): the shortest exact text where there is one. */
function numText(v: number): string {
  const t = String(v);
  return /e/i.test(t) ? v.toFixed(20).replace(/\.?0+$/, '') : t;
}

/** Probabilities as percentages where that reads back exactly (0.07 → 7%), else as fractions. */
function valueText(field: string, v: number): string {
  if (field === 'delayMs' || field === 'jitterMs' || field === 'reorderHoldMs') return `${numText(v)}ms`;
  const pct = String(Number((v * 100).toPrecision(12)));
  return !/e/i.test(pct) && Number(pct) / 100 === v ? `${pct}%` : numText(v);
}

/**
 * The text form of an injector's two specs, as parseFaultSpec reads it:
 * a key the directions share is written once, others with tx./rx.; zero
 * values and the default hold are left out. '' when nothing is impaired.
 */
export function formatFaultSpec(tx: Readonly<Required<FaultSpec>>, rx: Readonly<Required<FaultSpec>>): string {
  const parts: string[] = [];
  const defaults = normalise(undefined);
  for (const [key, field] of Object.entries(KEY_MAP)) {
    const a = tx[field];
    const b = rx[field];
    const d = defaults[field];
    if (a === b) {
      if (a !== d) parts.push(`${key}=${valueText(field, a)}`);
    } else {
      if (a !== d) parts.push(`tx.${key}=${valueText(field, a)}`);
      if (b !== d) parts.push(`rx.${key}=${valueText(field, b)}`);
    }
  }
  return parts.join(',');
}
