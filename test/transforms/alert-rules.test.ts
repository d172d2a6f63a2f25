import { describe, expect, it } from 'vitest';
import type { AlertRule } from '../../pipeline/core/types.js';
import { compileRules, parseSeries, seriesKey, validateAlertRules } from '../../sinks/alert-queue/evaluate.js';
import { collectReadings as collect } from '../../sinks/alert-queue/observations.js';
import { alertTopic } from '../../sinks/alert-queue/handlers.js';
import { toAlertEvent, toAlertJob } from '../../sinks/alert-queue/jobs.js';
import { timeKey } from '../../sinks/alert-queue/state-machine.js';
import { absent, above, below, predicate, rateOfChange } from '../../transforms/alert-rules.js';
import { reading, T0 } from '../support/alerts.js';

const rule = (id: string, when: AlertRule['when'], extra: Partial<AlertRule> = {}): AlertRule => ({
  id,
  severity: 'warning',
  measurement: 'telemetry',
  when,
  ...extra,
});
const nowT = timeKey(5n);

describe('alert rule builders', () => {
  it('build typed conditions and refuse inconsistent thresholds', () => {
    expect(above('temperature', { fire: 30, clear: 28 })).toEqual({
      kind: 'above',
      field: 'temperature',
      fire: 30,
      clear: 28,
    });
    expect(below('battery', { fire: 20 })).toEqual({ kind: 'below', field: 'battery', fire: 20, clear: 20 });
    expect(rateOfChange('t', { fire: 2 })).toEqual({
      kind: 'rateOfChange',
      field: 't',
      fire: 2,
      clear: 2,
      direction: 'any',
    });
    expect(absent({ afterMs: 30_000 })).toEqual({ kind: 'absent', afterMs: 30_000 });
    expect(() => above('t', { fire: 30, clear: 31 })).toThrow(/clear must be ≤ fire/);
    expect(() => below('b', { fire: 20, clear: 10 })).toThrow(/clear must be ≥ fire/);
    expect(() => above('t', { fire: Number.NaN })).toThrow(/finite/);
    expect(() => absent({ afterMs: 0 })).toThrow(/positive/);
    expect(() => predicate('', () => true)).toThrow(/field/);
  });

  it('validates a rule set, one sentence per problem', () => {
    expect(validateAlertRules([rule('ok', above('t', { fire: 1 }))])).toEqual([]);
    expect(
      validateAlertRules([
        rule('a b', above('t', { fire: 1 })),
        rule('x', above('t', { fire: 1 })),
        rule('x', above('t', { fire: 1 }), { forMs: -1, measurement: '' }),
      ]),
    ).toEqual([
      'rules[0] (a b): id must match ^[A-Za-z0-9_.-]{1,128}$',
      'rules[2] (x): duplicate id',
      'rules[2] (x): measurement must be non-empty',
      'rules[2] (x): forMs must be a number ≥ 0',
    ]);
  });
});

describe('alert evaluation', () => {
  it('turns readings into fire / clear / hold with hysteresis', () => {
    const [hot, low] = compileRules([
      rule('hot', above('temperature', { fire: 30, clear: 28 })),
      rule('low', below('battery', { fire: 20, clear: 25 })),
    ]);
    const sig = (c: typeof hot, fields: Record<string, number | bigint>) =>
      c!.observe(reading('d', 0, fields), nowT)?.[1];
    expect([31, 30, 29.9, 28.1, 28, 20].map((t) => sig(hot, { temperature: t }))).toEqual([
      'f',
      'f',
      'n',
      'n',
      'c',
      'c',
    ]);
    expect([10n, 20n, 21n, 25n, 26n].map((b) => sig(low, { battery: b }))).toEqual(['f', 'f', 'n', 'c', 'c']);
    expect(hot!.observe(reading('d', 0, { temperature: Number.NaN }), nowT)).toBeUndefined();
    expect(hot!.selects(reading('d', 0, { humidity: 1 }))).toBe(false);
  });

  it('selects by measurement, field and tags (a list means any)', () => {
    const [c] = compileRules([rule('r', above('t', { fire: 1 }), { tags: { site: ['a', 'b'], kind: 'x' } })]);
    const r = (tags: Record<string, string>) => ({ measurement: 'telemetry', tags, fields: { t: 1 }, timeNs: 0n });
    expect(
      [r({ site: 'a', kind: 'x' }), r({ site: 'b', kind: 'x' }), r({ site: 'c', kind: 'x' }), r({ site: 'a' })].map(
        (x) => c!.selects(x),
      ),
    ).toEqual([true, true, false, false]);
    expect(c!.selects({ ...r({ site: 'a', kind: 'x' }), measurement: 'other' })).toBe(false);
  });

  it('groups a batch per rule and series in event-time order; one "seen" per deadman series', () => {
    const compiled = compileRules([
      rule('hot', above('temperature', { fire: 30 })),
      rule('dead', absent({ afterMs: 1000 })),
    ]);
    const items = [
      reading('d1', 30, { temperature: 31 }),
      reading('d2', 10, { temperature: 1 }),
      reading('d1', 10, { temperature: 20 }),
      reading('d1', 20, { temperature: 40 }),
    ];
    const { groups, rules, rejected } = collect(items, compiled, nowT);
    const t = (ms: number) => timeKey(BigInt(T0 + ms) * 1_000_000n);
    const s1 = seriesKey(items[0]!),
      s2 = seriesKey(items[1]!);
    expect(groups).toEqual([
      [
        'hot',
        s1,
        [
          [t(10), 'c', 20],
          [t(20), 'f', 40],
          [t(30), 'f', 31],
        ],
      ],
      ['dead', s1, [[nowT, 'c']]],
      ['hot', s2, [[t(10), 'c', 1]]],
      ['dead', s2, [[nowT, 'c']]],
    ]);
    expect(Object.keys(rules).sort()).toEqual(['dead', 'hot']);
    expect(rejected).toEqual([]);
  });

  it('thins runs of one signal to their first and last observation where the middle cannot matter', () => {
    const temps = [20, 21, 22, 31, 32, 33, 29, 29.5, 29, 20];
    const items = temps.map((v, i) => reading('d1', i, { temperature: v }));
    const signals = (extra: Partial<AlertRule>) =>
      collect(
        items,
        compileRules([rule('hot', above('temperature', { fire: 30, clear: 28 }), extra)]),
        nowT,
      ).groups[0]![2].map((o) => `${o[1]}${Number(BigInt(o[0]) / 1_000_000n) - T0}`);
    expect(signals({})).toEqual(['c0', 'c2', 'f3', 'f5', 'n6', 'n8', 'c9']);
    expect(signals({ forMs: 1000 })).toEqual(['c0', 'c2', 'f3', 'f4', 'f5', 'n6', 'n8', 'c9']);
    expect(signals({ repeatIntervalMs: 1000 })).toEqual(['c0', 'c2', 'f3', 'f4', 'f5', 'n6', 'n7', 'n8', 'c9']);
    const rate = collect(items, compileRules([rule('r', rateOfChange('temperature', { fire: 5 }))]), nowT)
      .groups[0]![2];
    expect(rate).toHaveLength(10);
  });

  it('keys a series by measurement and sorted tags, reversibly', () => {
    const r = { measurement: 'm', tags: { z: '1', a: 'x"y', m: 'ü|:' }, fields: {}, timeNs: 0n };
    expect(seriesKey(r)).toBe('["m","a","x\\"y","m","ü|:","z","1"]');
    expect(seriesKey({ ...r, tags: { m: 'ü|:', z: '1', a: 'x"y' } })).toBe(seriesKey(r));
    expect(parseSeries(seriesKey(r))).toEqual({ measurement: 'm', tags: { a: 'x"y', m: 'ü|:', z: '1' } });
  });

  it('builds job data and options from a transition', () => {
    const tr = {
      id: 'alert-abc',
      ruleId: 'hot',
      severity: 'critical',
      labels: { team: 'ops' },
      field: 'temperature',
      series: '["telemetry","device","d1"]',
      state: 'resolved' as const,
      repeat: false,
      t: timeKey(1_700_000_003_000_000_123n),
      value: 27,
      startsAt: timeKey(1_700_000_001_000_000_000n),
      endsAt: timeKey(1_700_000_003_000_000_123n),
      workerId: 'w1',
    };
    expect(toAlertEvent(tr)).toEqual({
      ruleId: 'hot',
      severity: 'critical',
      labels: { team: 'ops' },
      measurement: 'telemetry',
      field: 'temperature',
      tags: { device: 'd1' },
      state: 'resolved',
      repeat: false,
      value: 27,
      startsAt: '2023-11-14T22:13:21.000Z',
      endsAt: '2023-11-14T22:13:23.000Z',
      eventTime: '2023-11-14T22:13:23.000Z',
      eventTimeNs: '1700000003000000123',
      workerId: 'w1',
    });
    const job = toAlertJob(tr, { attempts: 2 });
    expect(job.name).toBe('hot.resolved');
    expect(job.opts).toMatchObject({
      jobId: 'alert-abc',
      attempts: 2,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnFail: { age: 604_800 },
    });
  });

  it('fills MQTT topic templates from the alert, without wildcards or extra levels', () => {
    const e = toAlertEvent({
      id: 'x',
      ruleId: 'hot',
      severity: 'critical',
      labels: {},
      series: '["m","device","a/b+#"]',
      state: 'firing',
      repeat: false,
      t: timeKey(0n),
      workerId: 'w',
    });
    expect(alertTopic('alerts/{device}/{ruleId}/{state}/{missing}', e)).toBe('alerts/a_b__/hot/firing/_');
  });
});
