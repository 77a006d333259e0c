/**
 * What ESP and AH processing needs from the stack: the counters to bump, the
 * random source for CBC IVs, and the clock for the SAs' use time. One object
 * per stack (the `Ipsec` object in ipsec.ts is one).
 */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/rng.ts';
import type { IpsecCounter, IpsecStats } from './stats.ts';

export interface IpsecEnv {
  readonly stats: IpsecStats;
  readonly rng: Rng;
  readonly clock: Clock;
}

/** Counts one drop under its reason and returns the reason (every drop is one line). */
export function count<R extends IpsecCounter>(env: IpsecEnv, reason: R): R {
  env.stats.c[reason]++;
  return reason;
}
