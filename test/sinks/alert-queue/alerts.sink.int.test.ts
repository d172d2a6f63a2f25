// The alert sink against the real Redis and BullMQ: rules → state in Redis → one job per transition.
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { AlertRule, Reading } from '../../../pipeline/core/types.js';
import { alertQueue, type AlertQueueSink, type AlertQueueOptions } from '../../../sinks/alert-queue/index.js';
import { above, absent, below, predicate, rateOfChange } from '../../../transforms/alert-rules.js';
import { fakeClock, jobsOf, queueName, reading, T0 } from '../../support/alerts.js';
import { REDIS_URL } from '../../support/services.js';
import { alertRedisFixture } from '../../support/alerts-fixture.js';

const marker = `alerts_sink_${process.pid}`;
const fx = alertRedisFixture(marker);
const { queues, sinks } = fx;

const overheating: AlertRule = {
  id: 'overheating',
  severity: 'critical',
  labels: { team: 'facilities' },
  measurement: 'telemetry',
  when: above('temperature', { fire: 30, clear: 28 }),
  forMs: 2000,
};

/** A sink on a fresh queue (or `queue`), opened, with the sweep timer off. */
async function open(rules: readonly AlertRule[], opts: Partial<AlertQueueOptions> & { name?: string } = {}) {
  const name = opts.name ?? queueName(marker);
  const sink = alertQueue({
    url: REDIS_URL,
    queue: name,
    rules,
    sweepIntervalMs: 0,
    keyPrefix: `tributary-test:${name}`,
    ...opts,
  });
  await sink.open();
  sinks.push(sink);
  const queue = new Queue(name, { connection: fx.redis });
  queues.push(queue);
  return { sink, queue, name };
}

const write = (sink: AlertQueueSink, items: Reading[]) =>
  sink.write({ items, encoded: items.map((r) => sink.encode(r)) });
const temps = (device: string, from: number, everyMs: number, values: number[]) =>
  values.map((v, i) => reading(device, from + i * everyMs, { temperature: v, battery: 80n }));

describe('alertQueue sink', () => {
  it('hysteresis and forMs: one firing job after 2 s above 30, one resolve at 28, nothing in between', async () => {
    const { sink, queue } = await open([overheating], { workerId: 'w1' });
    expect(await write(sink, temps('d1', 0, 500, [25, 31, 32, 29.5, 31]))).toEqual({ status: 'delivered' }); // pending since 500
    expect((await jobsOf(queue)).length).toBe(0);
    expect(await write(sink, temps('d1', 2500, 500, [30.5, 29, 28.5, 28.1]))).toEqual({ status: 'delivered' }); // fires at 2500, holds in 28–30
    expect((await jobsOf(queue)).map((j) => j.summary)).toEqual([['overheating.firing', 'firing', false, 'd1', 2500]]);
    await write(sink, temps('d1', 4500, 500, [28, 27, 31]));
    const jobs = await jobsOf(queue);
    expect(jobs.map((j) => j.summary)).toEqual([
      ['overheating.firing', 'firing', false, 'd1', 2500],
      ['overheating.resolved', 'resolved', false, 'd1', 4500],
    ]);
    expect(jobs[1]!.data).toEqual({
      ruleId: 'overheating',
      severity: 'critical',
      labels: { team: 'facilities' },
      measurement: 'telemetry',
      field: 'temperature',
      tags: { device: 'd1', site: 'site-1' },
      state: 'resolved',
      repeat: false,
      value: 28,
      startsAt: new Date(T0 + 2500).toISOString(),
      endsAt: new Date(T0 + 4500).toISOString(),
      eventTime: new Date(T0 + 4500).toISOString(),
      eventTimeNs: String(BigInt(T0 + 4500) * 1_000_000n),
      workerId: 'w1',
    });
    const job = await queue.getJob(jobs[0]!.id);
    expect(job?.opts).toMatchObject({
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 86_400, count: 10_000 },
    });
    expect((await sink.store.read('overheating', '["telemetry","device","d1","site","site-1"]'))?.s).toBe('pending'); // 31 at 5500
  });

  it('repeats while firing only after repeatIntervalMs; low battery, rate of change and predicates', async () => {
    const rules: AlertRule[] = [
      {
        id: 'low-battery',
        severity: 'warning',
        measurement: 'telemetry',
        when: below('battery', { fire: 20, clear: 25 }),
        repeatIntervalMs: 10_000,
      },
      {
        id: 'heating-fast',
        severity: 'info',
        measurement: 'telemetry',
        tags: { site: ['site-1', 'site-2'] },
        when: rateOfChange('temperature', { fire: 1, clear: 0.2, direction: 'rise' }),
      },
      {
        id: 'alarm',
        severity: 'critical',
        measurement: 'telemetry',
        when: predicate('status', (s) => (s === 'alarm' ? true : s === 'ok' ? false : undefined)),
      },
    ];
    const { sink, queue } = await open(rules);
    const at = (t: number, battery: bigint, temperature: number, status: string, site = 'site-1') =>
      reading('d2', t, { battery, temperature, status }, site);
    await write(sink, [
      at(0, 30n, 20, 'ok'),
      at(1000, 19n, 20.5, 'warn'),
      at(6000, 18n, 26, 'alarm'),
      at(11_000, 17n, 26, 'warn'),
      at(12_000, 30n, 26.1, 'ok'),
    ]);
    await write(sink, [reading('d2', 13_000, { temperature: 99 }, 'site-9')]); // site-9 is not selected by heating-fast
    expect((await jobsOf(queue)).map((j) => [j.summary[0], j.summary[4], j.data.value])).toEqual(
      [
        ['low-battery.firing', 1000, 19],
        ['heating-fast.firing', 6000, 1.1],
        ['alarm.firing', 6000, 'alarm'],
        ['heating-fast.resolved', 11_000, 0],
        ['low-battery.repeat', 11_000, 17],
        ['alarm.resolved', 12_000, 'ok'],
        ['low-battery.resolved', 12_000, 30],
      ].sort((a, b) => (a[1] as number) - (b[1] as number) || String(a[0]).localeCompare(String(b[0]))),
    );
    expect(sink.accepts(reading('d2', 0, { humidity: 40 }))).toBe(false); // no rule reads humidity only
    expect(sink.accepts({ measurement: 'other', tags: {}, fields: { battery: 1 }, timeNs: 0n })).toBe(false);
  });

  it('deadman: fires after 30 s without data (one sweep per interval), resolves when data returns', async () => {
    const clock = fakeClock();
    const deadman: AlertRule = {
      id: 'deadman',
      severity: 'warning',
      measurement: 'telemetry',
      when: absent({ afterMs: 30_000 }),
    };
    const { sink, queue } = await open([deadman], { clock: clock.now, sweepIntervalMs: 0, workerId: 'sweeper' });
    const other = (await open([deadman], { name: await queue.name, clock: clock.now, workerId: 'other' })).sink;
    await write(sink, [reading('d3', 0, { temperature: 20 }), reading('d4', 0, { temperature: 20 })]);
    clock.set(20_000);
    await write(other, [reading('d4', 20_000, { temperature: 20 })]); // d4 keeps talking, through another worker
    clock.set(29_999);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
    clock.set(31_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
    expect(await other.sweep()).toEqual({ status: 'skipped' }); // same interval: one sweep for all workers
    clock.set(45_000);
    expect(await other.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 }); // d3 already firing, d4 not due yet
    clock.set(46_000);
    await write(other, [reading('d3', 12_345, { temperature: 21 })]); // a deadman goes by the workers' clock, not event time
    const jobs = await jobsOf(queue);
    expect(jobs.map((j) => [j.summary[0], j.summary[3], j.data.workerId, j.data.eventTime])).toEqual([
      ['deadman.firing', 'd3', 'sweeper', new Date(T0 + 31_000).toISOString()],
      ['deadman.resolved', 'd3', 'other', new Date(T0 + 46_000).toISOString()],
    ]);
    expect(jobs[0]!.data.field).toBeNull();
    expect(jobs[0]!.data.value).toBeNull();
  });

  it('deadman: a quiet series is not rewritten at every batch; a reading older than the firing does not resolve it', async () => {
    const clock = fakeClock();
    const deadman: AlertRule = {
      id: 'deadman',
      severity: 'warning',
      measurement: 'telemetry',
      when: absent({ afterMs: 30_000 }),
    };
    const { sink, queue } = await open([deadman], { clock: clock.now, workerId: 'w' });
    const lagging = (await open([deadman], { name: queue.name, clock: () => T0 + 40_000, workerId: 'lagging' })).sink;
    const field = `deadman|${JSON.stringify(['telemetry', 'device', 'd5', 'site', 'site-1'])}`;
    const state = () => fx.redis.hget(sink.keys.state, field);
    await write(sink, [reading('d5', 0, { temperature: 20 })]);
    const first = await state();
    expect(JSON.parse(first!)).toMatchObject({ s: 'inactive' });
    clock.set(10_000);
    await write(sink, [reading('d5', 10_000, { temperature: 20 })]);
    expect(await state()).toBe(first); // only the deadline moved
    expect(await fx.redis.zscore(sink.keys.deadlines, field)).toBe(String(T0 + 40_000));
    clock.set(41_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
    await write(lagging, [reading('d5', 11_000, { temperature: 20 })]); // seen at 40,000 by a late worker's clock: before the firing
    expect((await sink.store.read('deadman', field.slice('deadman|'.length)))?.s).toBe('firing');
    clock.set(42_000);
    await write(sink, [reading('d5', 12_000, { temperature: 20 })]);
    expect((await jobsOf(queue)).map((j) => [j.summary[0], j.data.eventTime])).toEqual([
      ['deadman.firing', new Date(T0 + 41_000).toISOString()],
      ['deadman.resolved', new Date(T0 + 42_000).toISOString()],
    ]);
  });

  it('deadman after an outage: no alert until the startup grace let live devices report', async () => {
    const clock = fakeClock();
    const deadman: AlertRule = {
      id: 'deadman',
      severity: 'warning',
      measurement: 'telemetry',
      when: absent({ afterMs: 30_000 }),
    };
    const before = await open([deadman], { clock: clock.now });
    await write(before.sink, [reading('alive', 0, { t: 1 }), reading('gone', 0, { t: 1 })]);
    await before.sink.close(); // the pipeline is down for 40 s; the broker keeps the devices' messages
    clock.set(40_000);
    const after = (await open([deadman], { name: before.name, clock: clock.now })).sink;
    clock.set(41_000);
    expect(await after.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 }); // both overdue, but in the grace period
    await write(after, [reading('alive', 39_000, { t: 1 })]); // the backlog arrives
    clock.set(70_500); // grace over; 'alive' was seen at 41 000 (clock), 'gone' at 0
    expect(await after.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
    expect((await jobsOf(before.queue)).map((j) => [j.summary[0], j.summary[3]])).toEqual([['deadman.firing', 'gone']]);
  });

  it('a batch of 2,500 series (the script reads and writes state in chunks): every series fires once, then resolves once', async () => {
    const { sink, queue } = await open([{ ...overheating, forMs: 0 }]);
    const devices = Array.from({ length: 2500 }, (_, i) => `bulk-${i}`);
    expect(
      await write(
        sink,
        devices.map((d) => reading(d, 0, { temperature: 35 })),
      ),
    ).toEqual({ status: 'delivered' });
    expect(
      await write(
        sink,
        devices.map((d) => reading(d, 1000, { temperature: 36 })),
      ),
    ).toEqual({ status: 'delivered' }); // still firing
    expect(
      await write(
        sink,
        devices.map((d) => reading(d, 2000, { temperature: 20 })),
      ),
    ).toEqual({ status: 'delivered' });
    const jobs = await jobsOf(queue);
    expect(
      jobs
        .filter((j) => j.summary[1] === 'firing')
        .map((j) => j.summary[3])
        .sort(),
    ).toEqual([...devices].sort());
    expect(
      jobs
        .filter((j) => j.summary[1] === 'resolved')
        .map((j) => j.summary[3])
        .sort(),
    ).toEqual([...devices].sort());
    expect(jobs).toHaveLength(5000);
  });

  it('a redelivered batch changes nothing: same jobs, same count', async () => {
    const { sink, queue } = await open([{ ...overheating, forMs: 0 }]);
    const batch = temps('d5', 0, 1000, [25, 31, 27, 32]);
    await write(sink, batch);
    const first = await jobsOf(queue);
    expect(first.map((j) => j.summary[0])).toEqual([
      'overheating.firing',
      'overheating.resolved',
      'overheating.firing',
    ]);
    expect(await write(sink, batch)).toEqual({ status: 'delivered' });
    await write(sink, batch.slice(1, 3));
    expect((await jobsOf(queue)).map((j) => j.id)).toEqual(first.map((j) => j.id));
    expect(await queue.count()).toBe(3);
  });

  it('enqueue failing once after the state update: retry, then exactly one job', async () => {
    const name = queueName(marker);
    const flaky = new Queue(name, { connection: fx.redis });
    queues.push(flaky);
    const addBulk = flaky.addBulk.bind(flaky);
    let failures = 1;
    flaky.addBulk = async (jobs) =>
      failures-- > 0 ? Promise.reject(new Error('simulated crash before enqueue')) : addBulk(jobs);
    const { sink, queue } = await open([{ ...overheating, forMs: 0 }], { name, queue: flaky });
    const batch = temps('d6', 0, 1000, [25, 31]);
    const first = await write(sink, batch);
    expect(first).toEqual({
      status: 'retry',
      failure: { code: 'alert_enqueue_failed', reason: 'simulated crash before enqueue' },
    });
    expect(await queue.count()).toBe(0);
    expect(await fx.redis.hlen(sink.keys.outbox)).toBe(1); // the transition waits in the outbox
    expect(await write(sink, batch)).toEqual({ status: 'delivered' }); // the runtime's retry
    expect((await jobsOf(queue)).map((j) => j.summary)).toEqual([['overheating.firing', 'firing', false, 'd6', 1000]]);
    expect(await fx.redis.hlen(sink.keys.outbox)).toBe(0);
  });

  it("a worker dying between state update and enqueue: another worker's sweep enqueues the alert, once", async () => {
    const clock = fakeClock();
    const name = queueName(marker);
    const dead = new Queue(name, { connection: fx.redis });
    queues.push(dead);
    dead.addBulk = () => Promise.reject(new Error('killed'));
    const a = await open([{ ...overheating, forMs: 0 }], { name, queue: dead, clock: clock.now, workerId: 'a' });
    const b = await open([{ ...overheating, forMs: 0 }], {
      name,
      clock: clock.now,
      workerId: 'b',
      outboxGraceMs: 10_000,
    });
    const batch = temps('d7', 0, 1000, [25, 31]);
    expect((await write(a.sink, batch)).status).toBe('retry');
    await a.sink.close(); // the worker dies: its memory is gone, its message unacknowledged
    expect(await write(b.sink, batch)).toEqual({ status: 'delivered' }); // the broker redelivers to b: state already applied
    expect(await b.queue.count()).toBe(0);
    clock.set(5_000);
    expect(await b.sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 }); // within the grace period
    clock.set(11_000);
    expect(await b.sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 1 });
    clock.set(60_000);
    expect(await b.sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
    const jobs = await jobsOf(b.queue);
    expect(jobs.map((j) => [j.summary[0], j.data.workerId])).toEqual([['overheating.firing', 'a']]);
  });

  it("three workers with one device's readings interleaved in parallel batches: exactly one firing and one resolve", async () => {
    const name = queueName(marker);
    const workers = await Promise.all(
      ['w1', 'w2', 'w3'].map(async (workerId) => (await open([overheating], { name, workerId })).sink),
    );
    const queue = queues.at(-1)!;
    const phase = (from: number, values: number[]) => temps('d8', from, 100, values);
    const spread = async (readings: Reading[]) => {
      // Round-robin over the workers, like a share group; each worker writes batches of 4 in parallel with the others.
      await Promise.all(
        workers.map(async (w, i) => {
          const mine = readings.filter((_, k) => k % workers.length === i);
          await Promise.all([0, 4, 8].map((s) => write(w, mine.slice(s, s + 4))));
          for (let s = 12; s < mine.length; s += 4)
            expect(await write(w, mine.slice(s, s + 4))).toEqual({ status: 'delivered' });
        }),
      );
    };
    const calm = Array.from({ length: 36 }, (_, i) => 20 + (i % 5));
    const hot = Array.from({ length: 60 }, (_, i) => 31 + (i % 4)); // 6 s above 30: longer than forMs
    await spread(phase(0, calm));
    await spread(phase(3600, hot));
    await spread(phase(9600, calm));
    await write(
      workers[1]!,
      phase(3600, hot).filter((_, k) => k % 3 === 1),
    ); // a late redelivery of 6 s of hot readings
    const jobs = await jobsOf(queue);
    expect(jobs.map((j) => j.summary.slice(0, 4))).toEqual([
      ['overheating.firing', 'firing', false, 'd8'],
      ['overheating.resolved', 'resolved', false, 'd8'],
    ]);
    expect(jobs[0]!.summary[4]).toBeGreaterThanOrEqual(3600 + 2000);
    expect(jobs[1]!.summary[4]).toBeGreaterThanOrEqual(9600);
  });

  it('a predicate that throws dead-letters that reading only', async () => {
    const { sink, queue } = await open([
      {
        id: 'bad',
        severity: 'info',
        measurement: 'telemetry',
        when: predicate('status', (s) => {
          if (s === 'boom') throw new Error('boom');
          return s === 'alarm';
        }),
      },
    ]);
    const result = await write(sink, [reading('d9', 0, { status: 'alarm' }), reading('d9', 1, { status: 'boom' })]);
    expect(result).toEqual({
      status: 'partial',
      rejected: [{ index: 1, failure: { code: 'alert_rule_error', reason: 'rule bad: boom' } }],
    });
    expect(await queue.count()).toBe(1);
  });

  it('rejects bad rules when the sink is made, naming the rule', () => {
    expect(() => alertQueue({ queue: 'q', rules: [overheating, overheating] })).toThrow(
      /rules\[1\] \(overheating\): duplicate id/,
    );
    expect(() => alertQueue({ queue: 'q', rules: [{ ...overheating, id: 'a:b' }] })).toThrow(/id must match/);
    expect(() => alertQueue({ queue: 'a:b', rules: [overheating] })).toThrow(/queue name without ":"/);
  });
});
