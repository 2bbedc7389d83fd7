import type { CompletionSink, QuerySamples, SystemUnderTest } from '../loadgen/types.js';

/**
 * Answers every sample inside issueQuery with an empty response, one completion call per sample
 * (as the null-SUT driver behind the C++ reference figures does), so that it measures LoadGen's
 * own per-completion cost.
 */
export class NullSut implements SystemUnderTest {
  readonly name = 'NullSUT';
  private readonly one = new Uint32Array(1);
  private readonly response = { ids: this.one };

  issueQuery(samples: QuerySamples, complete: CompletionSink): void {
    const { ids } = samples;
    for (let i = 0; i < ids.length; i++) {
      this.one[0] = ids[i];
      complete(this.response);
    }
  }

  flushQueries(): void {}
}
