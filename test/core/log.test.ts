import test from 'ava';
import { ConsoleLogger, MemoryLogger, nullLogger } from '../../src/core/log.ts';

test('MemoryLogger records level, subsystem and message', (t) => {
  const l = new MemoryLogger();
  l.log('warn', 'nd6', 'duplicate address fe80::1%tap0');
  l.log('debug', 'ip6', 'x');
  t.deepEqual(l.lines, ['warn nd6: duplicate address fe80::1%tap0', 'debug ip6: x']);
});

test('MemoryLogger keeps only the most recent lines', (t) => {
  const l = new MemoryLogger(3);
  for (let i = 0; i < 10; i++) l.log('info', 's', String(i));
  t.deepEqual(l.lines, ['info s: 7', 'info s: 8', 'info s: 9']);
});

test('nullLogger accepts anything', (t) => {
  t.notThrows(() => nullLogger.log('error', 'x', 'y'));
});

test.serial('ConsoleLogger writes to stderr at or above its level', (t) => {
  const written: string[] = [];
  const orig = process.stderr.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    written.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    const l = new ConsoleLogger('warn');
    l.log('debug', 'a', 'no');
    l.log('info', 'a', 'no');
    l.log('warn', 'tap', 'queue full');
    l.log('error', 'tap', 'gone');
    new ConsoleLogger().log('info', 'b', 'default level is info');
    new ConsoleLogger().log('debug', 'b', 'no');
  } finally {
    process.stderr.write = orig;
  }
  t.deepEqual(written, ['tap6[tap] warn: queue full\n', 'tap6[tap] error: gone\n', 'tap6[b] info: default level is info\n']);
});
