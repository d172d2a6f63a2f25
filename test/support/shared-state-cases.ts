// The shared-state cases, run against the memory state (shared-state.memory.test.ts) and the Redis
// script (test/transforms/shared-state/shared-state.redis.int.test.ts, single instance and Cluster): the two are twins.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { timeKey } from '../../transforms/shared-state/keys.js';
import { encodeValue } from '../../transforms/shared-state/logic.js';
import type { NodeAction, SequenceRule, StageState, StateOp } from '../../transforms/shared-state/types.js';

const T0 = Date.UTC(2024, 0, 1);
const t = (ms: number) => timeKey(BigInt(ms) * 1_000_000n);
const S1 = JSON.stringify(['m', 'device', 'd1']);
const S2 = JSON.stringify(['m', 'device', 'd2']);
const win = (series: string, startMs: number, atMs: number, data: string, closeAtMs = startMs + 1000): StateOp => ({
  kind: 'window',
  series,
  startMs,
  endMs: startMs + 1000,
  closeAtMs,
  t: t(atMs),
  data,
});
const seq = (series: string, atMs: number, rule: SequenceRule, values: unknown[], history = 4): StateOp => ({
  kind: 'sequence',
  series,
  t: t(atMs),
  rule,
  history,
  values: values.map((v) => encodeValue(v as never)),
});
const claim = (s: StageState, ns: string, nowMs: number, leaseMs = 5000) =>
  s.claim(ns, { nowMs, leaseMs, limit: 100, keepMs: 60_000 });
const pointsOf = (ws: Awaited<ReturnType<typeof claim>>) => ws.map((w) => [w.member, [...w.points].sort()]).sort();

/** Registers the cases; `fresh` gives an empty state and a namespace no other case uses. */
export function stateCases(fresh: () => Promise<{ state: StageState; ns: string }>): void {
  it('windows: the first point at a time wins; claimed when due, leased, late after the claim, a written point a duplicate', async () => {
    const { state, ns } = await fresh();
    expect(
      await state.apply(
        ns,
        [
          win(S1, T0, T0 + 1, 'a'),
          win(S1, T0, T0 + 2, 'b'),
          win(S1, T0, T0 + 1, 'x'),
          win(S2, T0, T0 + 5, 'c', T0 + 3000),
        ],
        T0,
      ),
    ).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await claim(state, ns, T0 + 999)).toEqual([]);
    const first = await claim(state, ns, T0 + 1000);
    expect(pointsOf(first)).toEqual([
      [
        `${T0}|${T0 + 1000}|${S1}`,
        [
          [t(T0 + 1), 'a'],
          [t(T0 + 2), 'b'],
        ],
      ],
    ]);
    expect(
      await state.apply(
        ns,
        [win(S1, T0, T0 + 3, 'late'), win(S1, T0, T0 + 1, 'again'), win(S1, T0 + 1000, T0 + 1001, 'next')],
        T0 + 1000,
      ),
    ).toEqual(['late', 'dup', 'ok']);
    const members = (ws: Awaited<ReturnType<typeof claim>>) => pointsOf(ws).map(([m]) => m);
    // S1's next window and S2's are due; S1's first is leased until T0 + 6000.
    expect(members(await claim(state, ns, T0 + 3000))).toEqual(
      [`${T0 + 1000}|${T0 + 2000}|${S1}`, `${T0}|${T0 + 1000}|${S2}`].sort(),
    );
    expect(members(await claim(state, ns, T0 + 6000))).toEqual([`${T0}|${T0 + 1000}|${S1}`]); // its writer's lease ran out
    await state.finish(
      ns,
      first.map((w) => w.member),
      T0 + 6000,
      60_000,
    );
    expect(pointsOf(await claim(state, ns, T0 + 20_000)).map(([m]) => m)).toEqual(
      [`${T0 + 1000}|${T0 + 2000}|${S1}`, `${T0}|${T0 + 1000}|${S2}`].sort(),
    );
    expect(await state.apply(ns, [win(S1, T0, T0 + 2, 'b')], T0 + 20_000)).toEqual(['dup']);
  });

  it('changed: emits on a change of any watched value, repeats its decision on a redelivery', async () => {
    const { state, ns } = await fresh();
    const rule: SequenceRule = { mode: 'changed' };
    const ops = [
      seq(S1, T0, rule, [1, 'on']),
      seq(S1, T0 + 1, rule, [1, 'on']),
      seq(S1, T0 + 2, rule, [1, 'off']),
      seq(S1, T0 + 3, rule, [1n, 'off']),
      seq(S1, T0 + 1, rule, [1, 'on']),
    ];
    expect(await state.apply(ns, ops, T0)).toEqual(['e', 'd', 'e', 'e', 'd']);
    expect(
      await state.apply(ns, [seq(S1, T0 + 2, rule, [1, 'off']), seq(S2, T0, rule, [undefined, 'on'])], T0),
    ).toEqual(['e', 'e']);
  });

  it('dedupe: drops what equals the last emitted reading within the deadband and the time', async () => {
    const { state, ns } = await fresh();
    const rule: SequenceRule = { mode: 'dedupe', withinMs: 10_000, deadband: [0.5, -1] };
    const values = [
      [20, 'ok'],
      [20.4, 'ok'],
      [20.6, 'ok'],
      [20.2, 'ok'],
      [20.2, 'bad'],
      [20.2, 'bad'],
    ];
    const ops = values.map((v, i) => seq(S1, T0 + i * 1000, rule, v, 8));
    expect(await state.apply(ns, ops, T0)).toEqual(['e', 'd', 'e', 'd', 'e', 'd']);
    expect(await state.apply(ns, [seq(S1, T0 + 16_000, rule, [20.2, 'bad'], 8)], T0)).toEqual(['e']); // 10 s since the last emitted
  });

  it('rate: per unit between consecutive readings, a counter drop is a reset, out of order fits in between, too old is refused', async () => {
    const { state, ns } = await fresh();
    const rule: SequenceRule = { mode: 'rate', perNs: 1e9, counter: true };
    const ops = [
      seq(S1, T0, rule, [100, 0.1]),
      seq(S1, T0 + 2000, rule, [160, 0.3]),
      seq(S1, T0 + 3000, rule, [10, 'x']),
      seq(S1, T0 + 2500, rule, [161, 0.7]),
    ];
    expect(decoded(await state.apply(ns, ops, T0))).toEqual([
      'd',
      [30, (0.3 - 0.1) / 2],
      [10, ''],
      [2, (0.7 - 0.3) / 0.5],
    ]);
    expect(
      decoded(
        await state.apply(
          ns,
          [seq(S1, T0 - 1000, rule, [1, 1]), seq(S1, T0 + 500, rule, [1, 1]), seq(S1, T0 + 2000, rule, [0, 0])],
          T0,
        ),
      ),
    ).toEqual(['o', [2, (1 - 0.1) / 0.5], [30, (0.3 - 0.1) / 2]]);
    const gauge: SequenceRule = { mode: 'rate', perNs: 6e10, counter: false };
    expect(decoded(await state.apply(ns, [seq(S2, T0, gauge, [10]), seq(S2, T0 + 30_000, gauge, [4])], T0))).toEqual([
      'd',
      [-12],
    ]);
  });
}

/** A Sparkplug node op. */
export const nodeOp = (
  action: NodeAction,
  seq: number,
  o: { device?: string; tolerance?: number; bdSeq?: string; set?: string[]; get?: string[]; node?: string } = {},
): StateOp => ({
  kind: 'node',
  series: o.node ?? 'g1/n1',
  action,
  device: o.device ?? '',
  seq,
  tolerance: o.tolerance ?? 0,
  bdSeq: o.bdSeq ?? '',
  set: o.set ?? [],
  get: o.get ?? [],
});

/** Registers the Sparkplug node cases. */
export function nodeCases(fresh: () => Promise<{ state: StageState; ns: string }>): void {
  it('sparkplug nodes: BIRTH aliases per node and device, seq gaps confirmed once, stale NDEATH ignored', async () => {
    const { state, ns } = await fresh();
    const r = await state.apply(
      ns,
      [
        nodeOp('nbirth', 0, { bdSeq: '3', set: ['a1', '10\u0000\u0000temp', 'n\u0000temp', '10', '#bd', '3'] }),
        nodeOp('dbirth', 1, { device: 'd1', set: ['a2', '11\u0000d1\u0000on'] }),
        nodeOp('data', 2, { get: ['a1', 'a2', 'a9', 'n\u0000temp'] }),
        nodeOp('data', 4, { get: [] }),
        nodeOp('data', 4, {}),
        nodeOp('ddeath', 5, { device: 'd1', get: ['a2'] }),
      ],
      0,
    );
    expect(r).toEqual([
      '\u0002',
      '\u0002',
      '\u000210\u0000\u0000temp\u000111\u0000d1\u0000on\u0001\u000110',
      '3\u0002',
      '\u0002',
      '\u0002',
    ]);
    expect(await state.apply(ns, [nodeOp('ndeath', -1, { bdSeq: '2' })], 0)).toEqual(['stale\u0002']);
    await state.apply(ns, [nodeOp('dbirth', 6, { device: 'd2' }), nodeOp('dbirth', 7, { device: 'd1' })], 0);
    expect(
      await state.apply(ns, [nodeOp('ndeath', -1, { bdSeq: '3' }), nodeOp('data', 9, { get: ['a1'] })], 0),
    ).toEqual(['ok\u0002d1\u0001d2', '\u0002']);
  });

  it('sparkplug seq: a reordering within the tolerance is no gap; a missing seq is reported once, past the wrap', async () => {
    const { state, ns } = await fresh();
    const seqs = [254, 255, 1, 0, 2, 4, 5, 6, 7, 4];
    const r = await state.apply(
      ns,
      [nodeOp('nbirth', 253, { tolerance: 2 }), ...seqs.map((q) => nodeOp('data', q, { tolerance: 2 }))],
      0,
    );
    expect(r.map((x) => x.split('\u0002')[0])).toEqual(['', '', '', '', '', '', '', '3', '', '', '']);
  });
}

/** Results with rates as numbers (Redis formats them with %.17g, JS shortest: the same doubles). */
export function decoded(results: readonly string[]): Array<string | Array<number | ''>> {
  return results.map((r) =>
    r.startsWith('r')
      ? r
          .slice(1)
          .split(',')
          .map((n) => (n === '' ? '' : Number(n)))
      : r,
  );
}

/** Random op sequences give the same results, bit for bit, on two states. */
export function twinProperty(
  a: () => Promise<{ state: StageState; ns: string }>,
  b: () => Promise<{ state: StageState; ns: string }>,
): void {
  it('memory and Redis agree on random sequences of updates', async () => {
    const value = fc.oneof(
      fc.constant(undefined),
      fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
      fc.integer({ min: -5, max: 5 }),
      fc.boolean(),
      fc.constantFrom('a', 'b'),
    );
    const rule = fc.oneof(
      fc.constant<SequenceRule>({ mode: 'changed' }),
      fc.record({
        mode: fc.constant('dedupe' as const),
        withinMs: fc.constantFrom(-1, 3000),
        deadband: fc.tuple(fc.constantFrom(-1, 0, 0.5), fc.constantFrom(-1, 2)),
      }),
      fc.record({ mode: fc.constant('rate' as const), perNs: fc.constantFrom(1e9, 6e10), counter: fc.boolean() }),
    );
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('window' as const),
        series: fc.constantFrom(S1, S2),
        startMs: fc.constantFrom(T0, T0 + 1000),
        at: fc.integer({ min: 0, max: 999 }),
        data: fc.constantFrom('p', 'q'),
      }),
      fc.record({
        kind: fc.constant('sequence' as const),
        series: fc.constantFrom(S1, S2),
        at: fc.integer({ min: 0, max: 20 }),
        values: fc.tuple(value, value),
      }),
      fc.record({ kind: fc.constant('claim' as const), nowMs: fc.integer({ min: 0, max: 5000 }) }),
      fc.record({
        kind: fc.constant('node' as const),
        action: fc.constantFrom<NodeAction>('nbirth', 'dbirth', 'data', 'data', 'data', 'ddeath', 'ndeath'),
        seq: fc.integer({ min: -1, max: 300 }),
        device: fc.constantFrom('d1', 'd2'),
        tolerance: fc.constantFrom(0, 3),
        bdSeq: fc.constantFrom('', '1', '2'),
        alias: fc.constantFrom('a1', 'a2', 'a3'),
        value: fc.constantFrom('9\u0000d1\u0000x', '9\u0000d2\u0000y', '9\u0000\u0000z'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        rule,
        fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        async (r, batches) => {
          const [x, y] = [await a(), await b()];
          const outs: unknown[][] = [[], []];
          for (const batch of batches) {
            for (const [i, s] of [x, y].entries()) {
              const ops: StateOp[] = [];
              for (const o of batch) {
                if (o.kind === 'claim') continue;
                if (o.kind === 'node') {
                  const birth = o.action.endsWith('birth');
                  ops.push(
                    nodeOp(o.action, o.seq % 256, {
                      device: o.device,
                      tolerance: o.tolerance,
                      bdSeq: o.bdSeq,
                      set: birth ? [o.alias, o.value, '#bd', o.bdSeq] : [],
                      get: ['a1', 'a2', 'a3', 'd' + o.device],
                    }),
                  );
                  continue;
                }
                ops.push(
                  o.kind === 'window'
                    ? win(o.series, o.startMs, o.startMs + o.at, o.data)
                    : seq(o.series, T0 + o.at * 1000, r, o.values, 5),
                );
              }
              outs[i]!.push(decoded(await s.state.apply(s.ns, ops, T0)));
              const c = batch.find((o) => o.kind === 'claim');
              if (c) outs[i]!.push(pointsOf(await claim(s.state, s.ns, T0 + c.nowMs)));
            }
          }
          expect(JSON.stringify(outs[0])).toBe(JSON.stringify(outs[1]));
        },
      ),
      { numRuns: 60 },
    );
  });
}
