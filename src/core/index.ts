export * from './result.ts';
export * from './bytes.ts';
export * from './pkt.ts';
export * from './clock.ts';
export * from './rng.ts';
export * from './counters.ts';
export * from './checksum.ts';
export * from './log.ts';
