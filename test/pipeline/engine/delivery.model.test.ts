// A model of the acknowledgement path (issue 14): the real Runtime, PublishReader, DeferredAcks and
// MqttMessage, driven by random schedules of publishes (routed or not, QoS 0/1, duplicates,
// undecodable, retained-empty), broker sends cut at random byte offsets, sink write results
// (delivered, retry, rejected, partial, a throwing sink), time and reconnects; sync or async stages
// that throw, reject or drop; window stages; backpressure from a small bound on unsettled messages.
// After every step: a PUBACK only for a delivery whose derived items all settled, PUBACKs in
// arrival order on the live connection, every held message held for a stated reason, the bound
// kept. After a final drain: every QoS 1 message acknowledged, every delivery settled once,
// nothing held. See delivery-model/ for the model.
//
// Replay a failure with the seed and path it prints, picking its test with -t:
//   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/pipeline/engine/delivery.model.test.ts -t '<test>'
// FC_RUNS=<n> runs n cases per property instead.
import type * as timersPromises from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mutants } from './delivery-model/mutants.js';
import { assertProperty, deliveryProperty, fcParams } from './delivery-model/run.js';
import { burstStepsArb, configArb, largeConfigArb } from './delivery-model/spec.js';

// The sink runner's retry backoff sleeps through node:timers/promises; route it through the
// (faked) global timers so that retries happen when the schedule advances time.
vi.mock('node:timers/promises', async (importOriginal) => {
  const real = await importOriginal<typeof timersPromises>();
  const sleep = <T>(ms?: number, value?: T, options?: { signal?: AbortSignal }): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = globalThis.setTimeout(() => resolve(value as T), ms);
      options?.signal?.addEventListener(
        'abort',
        () => {
          globalThis.clearTimeout(timer);
          reject(new Error('aborted'));
        },
        { once: true },
      );
    });
  return { ...real, setTimeout: sleep };
});

// The whole file: ~13 s of tests on a quiet 2-core machine, ~27 s at a load average of 12. Past BUDGET_MS a property
// starts no new case and passes with the runs it made (it says so).
const TIMEOUT_MS = 240_000;
const BUDGET_MS = 150_000;

describe('the acknowledgement path, as a model', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it(
    'acknowledges a message only once everything derived from it settled, in arrival order, and holds nothing forever',
    async () => {
      await assertProperty(deliveryProperty(), fcParams(1200), BUDGET_MS);
    },
    TIMEOUT_MS,
  );

  it(
    'keeps the same promises with a window stage under tight backpressure and broker overshoot',
    async () => {
      const tight = configArb.map((c) => ({
        ...c,
        pipeline: 'window' as const,
        maxUnsettled: Math.min(c.maxUnsettled, 3),
        overshoot: c.overshoot + 4,
      }));
      await assertProperty(deliveryProperty(tight), fcParams(800), BUDGET_MS);
    },
    TIMEOUT_MS,
  );

  it(
    'holds over a thousand messages at once (bursts past the first ring of DeferredAcks)',
    async () => {
      await assertProperty(deliveryProperty(largeConfigArb, burstStepsArb), fcParams(15), BUDGET_MS);
    },
    TIMEOUT_MS,
  );

  it.each(mutants)(
    'catches a deliberate bug: $name',
    async (mutant) => {
      const remove = mutant.install();
      try {
        const result = await fc.check(deliveryProperty(), {
          ...fcParams(500),
          endOnFailure: true,
          interruptAfterTimeLimit: BUDGET_MS,
        });
        expect(result.failed).toBe(true);
        const replay = `FC_SEED=${result.seed} FC_PATH=${result.counterexamplePath ?? ''}`;
        expect(String((result.errorInstance as Error | undefined)?.message), replay).toMatch(mutant.expect);
      } finally {
        remove();
      }
    },
    TIMEOUT_MS,
  );
});
