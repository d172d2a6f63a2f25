// ObservationFold: what the alert sink writes is everything folded since its last write, and a
// failed write's observations come back in front of what arrived meanwhile.
import { describe, expect, it } from 'vitest';
import type { AlertRule } from '../../../pipeline/core/types.js';
import { compileRules, seriesKey } from '../../../sinks/alert-queue/evaluate.js';
import { ObservationFold, ruleFailureOf } from '../../../sinks/alert-queue/observations.js';
import { timeKey } from '../../../sinks/alert-queue/state-machine.js';
import { above, absent, predicate } from '../../../transforms/alert-rules.js';
import { reading, T0 } from '../../support/alerts.js';

const rule = (id: string, when: AlertRule['when']): AlertRule => ({
  id,
  severity: 'warning',
  measurement: 'telemetry',
  when,
});
const t = (ms: number) => timeKey(BigInt(T0 + ms) * 1_000_000n);
const hot = () =>
  new ObservationFold(
    compileRules([rule('hot', above('temperature', { fire: 30, clear: 28 })), rule('dead', absent({ afterMs: 1000 }))]),
  );
const signals = (groups: ReturnType<ObservationFold['take']>['groups'], ruleId = 'hot') =>
  groups
    .filter((g) => g[0] === ruleId)
    .map((g) => g[2].map((o) => `${o[1]}${Number(BigInt(o[0]) / 1_000_000n) - T0}`).join(' '));

describe('ObservationFold', () => {
  it('a take holds everything folded since the last one, and starts the fold empty', () => {
    const fold = hot();
    expect(fold.empty).toBe(true);
    for (let i = 0; i < 5; i++) expect(fold.add(reading('d1', i, { temperature: 20 + i }))).toBe('');
    expect(fold.empty).toBe(false);
    const first = fold.take(t(100));
    expect(signals(first.groups)).toEqual(['c0 c4']);
    expect(first.groups.find((g) => g[0] === 'dead')).toEqual([
      'dead',
      seriesKey(reading('d1', 0, {})),
      [[t(100), 'c']],
    ]);
    expect(fold.empty).toBe(true);
    fold.add(reading('d1', 5, { temperature: 35 }));
    expect(signals(fold.take(t(200)).groups)).toEqual(['f5']);
  });

  it('a failed take goes back in front of what was folded meanwhile, and is thinned again', () => {
    const fold = hot();
    [20, 21, 22].forEach((v, i) => fold.add(reading('d1', i, { temperature: v })));
    fold.add(reading('d2', 0, { temperature: 40 }));
    const failed = fold.take(t(100));
    [23, 24, 31].forEach((v, i) => fold.add(reading('d1', 3 + i, { temperature: v })));
    fold.add(reading('d3', 0, { temperature: 1 }));
    fold.putBack(failed.folded);
    const retry = fold.take(t(200));
    // d1: c0 c2 (taken) + c3 c4 f5 (meanwhile) → one run of clears, thinned to its ends.
    expect(signals(retry.groups)).toEqual(['c0 c4 f5', 'f0', 'c0']);
    expect(retry.groups.filter((g) => g[0] === 'dead').map((g) => g[2])).toEqual([
      [[t(200), 'c']],
      [[t(200), 'c']],
      [[t(200), 'c']],
    ]);
  });

  it('after a written take is recycled, its series fold afresh: nothing of the old take comes back', () => {
    const fold = hot();
    [20, 21, 22, 23].forEach((v, i) => fold.add(reading('d1', i, { temperature: v })));
    fold.add(reading('d2', 0, { temperature: 40 }));
    const written = fold.take(t(100));
    expect(signals(written.groups)).toEqual(['c0 c3', 'f0']);
    fold.add(reading('d1', 10, { temperature: 35 })); // folded while the write ran
    fold.recycle(written.folded);
    [36, 37].forEach((v, i) => fold.add(reading('d1', 11 + i, { temperature: v })));
    [41, 20].forEach((v, i) => fold.add(reading('d2', 5 + i, { temperature: v })));
    fold.add(reading('d2', 1, { temperature: 42 })); // older than d2's last: sorted at the take
    const next = fold.take(t(200));
    expect(signals(next.groups)).toEqual(['f10 f12', 'f1 f5 c6']); // a run of fires thinned to its ends
    expect(next.groups.filter((g) => g[0] === 'dead').map((g) => g[2])).toEqual([[[t(200), 'c']], [[t(200), 'c']]]);
    fold.recycle(next.folded);
    expect(fold.empty).toBe(true);
    fold.add(reading('d3', 0, { temperature: 29 }));
    expect(fold.take(t(300)).groups.map((g) => g[0])).toEqual(['hot', 'dead']);
  });

  it('readings out of time order are sorted before thinning', () => {
    const fold = hot();
    [
      [5, 20],
      [1, 21],
      [3, 22],
      [2, 35],
      [4, 23],
    ].forEach(([ms, v]) => fold.add(reading('d1', ms!, { temperature: v! })));
    expect(signals(fold.take(t(9)).groups)).toEqual(['c1 f2 c3 c5']);
  });

  it('a reading a rule throws on is reported with the reason and folds nothing', () => {
    const fold = new ObservationFold(
      compileRules([
        rule('hot', above('temperature', { fire: 30 })),
        rule(
          'odd',
          predicate('status', (v) => {
            if (v === 'boom') throw new Error('bad status');
            return v === 'odd';
          }),
        ),
      ]),
    );
    const added = fold.add(reading('d1', 0, { temperature: 40, status: 'boom' }));
    expect(ruleFailureOf(added)).toEqual({ code: 'alert_rule_error', reason: 'rule odd: bad status' });
    expect(fold.empty).toBe(true);
    expect(ruleFailureOf(fold.add(reading('d1', 1, { temperature: 40, status: 'odd' })))).toBeUndefined();
    expect(fold.take(t(9)).groups.map((g) => [g[0], g[2].map((o) => o[1] + String(o[2]))])).toEqual([
      ['hot', ['f40']],
      ['odd', ['fodd']],
    ]);
  });
});
