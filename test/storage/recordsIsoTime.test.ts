import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isoTime } from '../../kernel/storage/recordsIsoTime.ts';

/** The views' date formatter writes what toISOString writes, across days, years and both epochs' sides. */
test('isoTime equals toISOString', () => {
  const edges = [0, -1, 1, -86_400_000, -86_400_001, 86_399_999, 951_782_400_000, 253_402_300_799_999,
    -62_167_219_200_000, -62_167_219_200_001, 253_402_300_800_000, 8.64e15, -8.64e15, 1_764_600_000_123];
  for (const ms of edges) assert.is(isoTime(new Date(ms)), new Date(ms).toISOString(), `at ${ms}`);
  // Consecutive instants on the same day, and jumps back and forth between days (the kept day prefix).
  let ms = 1_700_000_000_000;
  for (let i = 0; i < 20_000; i++) {
    ms += i % 7 === 0 ? -3_600_000 * 30 : 7_919_333;
    assert.is(isoTime(new Date(ms)), new Date(ms).toISOString(), `at ${ms}`);
  }
});

test('isoTime throws on an invalid date, as toISOString does', () => {
  assert.throws(() => isoTime(new Date(Number.NaN)), (e: unknown) => e instanceof RangeError);
});

test.run();
