/**
 * Injected logging. The stack reports events people must see (a duplicate
 * address, a dropped TAP write queue) through a Logger; the daemon prints them,
 * tests collect them.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, subsystem: string, msg: string): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes "tap6[subsystem]: msg" lines to stderr at or above `min`. */
export class ConsoleLogger implements Logger {
  constructor(private readonly min: LogLevel = 'info') {}
  log(level: LogLevel, subsystem: string, msg: string): void {
    if (order[level] >= order[this.min]) process.stderr.write(`tap6[${subsystem}] ${level}: ${msg}\n`);
  }
}

/** Keeps the most recent lines in memory (bounded), for tests and `tap6 log`. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  constructor(private readonly max = 1000) {}
  log(level: LogLevel, subsystem: string, msg: string): void {
    if (this.lines.length >= this.max) this.lines.shift();
    this.lines.push(`${level} ${subsystem}: ${msg}`);
  }
}

export const nullLogger: Logger = { log() {} };
