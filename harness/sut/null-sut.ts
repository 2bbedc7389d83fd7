import type { CompletionSink, QuerySamples, SystemUnderTest } from '../loadgen/types.js';

/** Answers every sample inside issueQuery with an empty response: measures LoadGen's own overhead. */
export class NullSut implements SystemUnderTest {
  readonly name = 'NullSUT';

  issueQuery(samples: QuerySamples, complete: CompletionSink): void {
    complete({ ids: samples.ids });
  }

  flushQueries(): void {}
}
