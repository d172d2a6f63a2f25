// Runs one case of the model under fake timers and a seeded Math.random, and the property over it.
import fc from 'fast-check';
import { vi } from 'vitest';
import { configArb, stepsArb, type ModelConfig, type Step } from './spec.js';
import { seededRandom as mulberry32 } from '../../../../pipeline/cli/fleet-simulator.js';
import { World } from './world.js';

const START_MS = 1_700_000_000_000;

/**
 * Runs one schedule and the final drain; resolves with the violations (empty when every invariant
 * held). Timers and Date are fake: time moves only in `advance` steps and the drain.
 */
export async function runCase(config: ModelConfig, steps: readonly Step[]): Promise<string[]> {
  vi.useFakeTimers({ now: START_MS, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.spyOn(Math, 'random').mockImplementation(mulberry32(config.randomSeed));
  let world: World | undefined;
  try {
    world = await World.start(config, async (ms) => {
      await vi.advanceTimersByTimeAsync(ms);
    });
    for (const [i, step] of steps.entries()) {
      await world.step(step);
      const violations = world.check();
      if (violations.length > 0) return violations.map((v) => `after step ${i} (${step.kind}): ${v}`);
    }
    return (await world.drain()).map((v) => `after the drain: ${v}`);
  } finally {
    vi.useRealTimers();
    vi.restoreAllMocks();
    await world?.stop();
  }
}

/** The property: no violation in any schedule `schedules` yields for any configuration `configs` yields. */
export function deliveryProperty(
  configs: fc.Arbitrary<ModelConfig> = configArb,
  schedules: fc.Arbitrary<Step[]> = stepsArb,
) {
  return fc.asyncProperty(configs, schedules, async (config, steps) => {
    const violations = await runCase(config, steps);
    if (violations.length > 0) throw new Error(violations.slice(0, 5).join('\n'));
  });
}

/**
 * Checks `property` like fc.assert (same report: seed, path, shrunk counterexample), but stops
 * starting new runs after `budgetMs`, so that a slow machine runs fewer cases instead of timing
 * out while a case still runs (the fake timers are global: a case left running would disturb the
 * next test's).
 */
export async function assertProperty<Ts>(
  property: fc.IAsyncProperty<Ts>,
  params: fc.Parameters<Ts>,
  budgetMs: number,
): Promise<void> {
  const details = await fc.check(property, { ...params, interruptAfterTimeLimit: budgetMs });
  if (details.failed) throw new Error(fc.defaultReportMessage(details), { cause: details.errorInstance });
  if (details.interrupted)
    console.warn(`delivery model: time budget reached after ${details.numRuns} of ${params.numRuns ?? 100} runs`);
}

const env = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);

/** fast-check parameters: `numRuns` unless FC_RUNS says otherwise; FC_SEED and FC_PATH replay a failure. */
export function fcParams(numRuns: number): fc.Parameters<[ModelConfig, Step[]]> {
  const seed = env('FC_SEED');
  return {
    numRuns: env('FC_RUNS') ?? numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
  };
}
