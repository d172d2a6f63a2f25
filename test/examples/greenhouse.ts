// The pipeline of docs/transforms.md ("Write a transform"), verbatim; test/examples/docs-snippets.test.ts tests it.
import { definePipeline, json, map, mqttSource, reject, workerEnv, type Reading } from 'tributary';
import { influxdb } from 'tributary/sinks';
import {
  addTags,
  aggregateWindow,
  castFields,
  convertUnits,
  dropOutliers,
  enrichFrom,
  mapLookup,
  parseTopic,
  renameFields,
  toReadings,
} from 'tributary/transforms';

/** Adds a dew point (°C, Magnus formula); a reading without temperature or humidity is dead-lettered. */
export const addDewPoint = map<Reading, Reading>('addDewPoint', (r) => {
  const t = r.fields.temperature;
  const rh = r.fields.humidity;
  if (typeof t !== 'number' || typeof rh !== 'number') return reject('needs temperature and humidity', 'missing_field');
  const g = Math.log(rh / 100) + (17.62 * t) / (243.12 + t);
  return { ...r, fields: { ...r.fields, dew_point: Math.round(((243.12 * g) / (17.62 - g)) * 100) / 100 } };
});

const env = workerEnv();
const devices = mapLookup({ entries: { 'dev-7': { crop: 'tomato' } } }); // or redisHash({ url: env.redis.url, key: (r) => `devices:${r.tags.device}` })

/** Readings from the greenhouses' devices (a function: each pipeline gets its own stage instances). */
const readings = (name: string) =>
  definePipeline({ name })
    .from(mqttSource({ ...env.mqtt, subscribe: [{ topic: 'greenhouse/+/+/state', decode: json() }] }))
    // {"ts":1704067200000,"temp_f":77,"humidity":"55","zone":"A"}
    .pipe(toReadings({ measurement: 'climate', time: ['ts'], timeUnit: 'ms' }))
    .pipe(parseTopic('greenhouse/{house}/{device}/state'))
    .pipe(renameFields({ fields: { temp_f: 'temperature' }, fieldsToTags: ['zone'] }))
    .pipe(castFields({ humidity: 'number' }))
    .pipe(convertUnits({ temperature: { from: 'F', to: 'C', decimals: 2 } }))
    .pipe(dropOutliers({ temperature: { min: -30, max: 60 }, humidity: { min: 0, max: 100 } }))
    .pipe(enrichFrom(devices, { ttlMs: 60_000 }))
    .pipe(addTags({ site: 'north' }))
    .pipe(addDewPoint);

export default readings('greenhouse').to(influxdb({ ...env.influx }));

/** The same readings, written as one aggregate per series and minute. */
export const perMinute = readings('greenhouse-1m')
  .pipe(
    aggregateWindow({
      everyMs: 60_000,
      allowedLatenessMs: 5_000,
      fields: { temperature: ['mean', 'max'], humidity: ['min'] },
    }),
  )
  .to(influxdb({ ...env.influx }));
