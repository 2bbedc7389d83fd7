import { describe, expect, it } from 'vitest';
import { parseScenarioRun } from '../../../results/submission/options.js';

describe('parseScenarioRun', () => {
  it('reads <Scenario>=<perf>[,<acc>] with any scenario capitalisation', () => {
    expect(parseScenarioRun('offline=runs/a,runs/b')).toEqual({
      scenario: 'Offline',
      performanceDir: 'runs/a',
      accuracyDir: 'runs/b',
    });
    expect(parseScenarioRun('Server=runs/s')).toEqual({ scenario: 'Server', performanceDir: 'runs/s' });
    expect(() => parseScenarioRun('runs/a')).toThrow(/expected <Scenario>=/);
    expect(() => parseScenarioRun('Offline=a,b,c')).toThrow(/expected <Scenario>=/);
    expect(() => parseScenarioRun('Batch=a')).toThrow(/unknown scenario "Batch"/);
  });
});
