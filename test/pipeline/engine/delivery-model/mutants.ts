// Deliberate bugs, each installed for one check that the model catches it (so the property is not
// vacuous). Each returns the function that removes it.
import { DeferredAcks } from '../../../../pipeline/engine/ingest/deferred-ack.js';
import { MessageContext } from '../../../../pipeline/engine/runtime/context.js';
import type { Origin } from '../../../../pipeline/engine/runtime/origin.js';
import type { Retention } from '../../../../pipeline/core/types.js';
import { FakeSocket } from './source.js';

export interface Mutant {
  readonly name: string;
  /** The violations the model may report for it. */
  readonly expect: RegExp;
  install(): () => void;
}

function patch<T extends object, K extends keyof T>(target: T, key: K, value: T[K]): () => void {
  const original = target[key];
  target[key] = value;
  return () => {
    target[key] = original;
  };
}

export const mutants: readonly Mutant[] = [
  {
    name: 'two PUBACKs of a run swapped on the wire',
    expect: /out of arrival order/,
    install: () => {
      const write = FakeSocket.prototype.write;
      return patch(FakeSocket.prototype, 'write', function (this: FakeSocket, data: Buffer) {
        if (data.length < 8) return write.call(this, data);
        const swapped = Buffer.concat([data.subarray(4, 8), data.subarray(0, 4), data.subarray(8)]);
        return write.call(this, swapped);
      });
    },
  },
  {
    name: 'acknowledgements that ignore the connection epoch',
    expect: /PUBACK|never acknowledged|not drained/,
    install: () => {
      const settle = DeferredAcks.prototype.settle;
      return patch(DeferredAcks.prototype, 'settle', function (this: DeferredAcks, seq: number) {
        settle.call(this, seq, this.currentEpoch);
      });
    },
  },
  {
    name: 'a window retention that holds nothing',
    expect: /settled while it waits for/,
    install: () =>
      patch(MessageContext.prototype, 'retain', function (this: MessageContext): Retention {
        return { origin: (this as unknown as { origin: Origin }).origin, release() {} } as Retention;
      }),
  },
];
