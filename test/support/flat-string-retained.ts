// Child process of flat-string.test.ts: prints the heap bytes retained per built line, with
// (`flat`) or without (`tree`) flatString, after the builder ran hot enough to be optimized.
import { flatString } from '../../pipeline/core/flat-string.js';

const flat = process.argv[2] === 'flat';
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function build(i: number): string {
  let line = `telemetry,device=dev-${i % 1000}`;
  line += ` temperature=${i / 7}`;
  line += `,humidity=${i % 50}`;
  const s = `${line} ${i}`;
  return flat ? flatString(s) : s;
}

for (let i = 0; i < 300_000; i++) build(i);
gc();
const before = process.memoryUsage().heapUsed;
const kept: string[] = [];
for (let i = 0; i < 100_000; i++) kept.push(build(i));
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(`${Math.round((after - before) / kept.length)}\n`);
