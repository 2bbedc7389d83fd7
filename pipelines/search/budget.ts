/**
 * The search's time budget (--budget, minutes of NSGA-II) across sessions. The time spent is kept in
 * the search folder (budget.json) after every new evaluation, so that a resumed search gets what was
 * left of its budget, not a fresh one; a search whose budget is spent goes on with what it has.
 * The time of an evaluation cut short by an interruption is not counted (it left nothing behind).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';

export const BUDGET_FILE = 'budget.json';
const BUDGET_FORMAT = 'bnas.search-budget/1';

interface BudgetFile {
  format: typeof BUDGET_FORMAT;
  /** NSGA-II time spent by every session so far, s. */
  spentSeconds: number;
}

/** The NSGA-II time spent in a search folder so far (s; 0 for a folder without budget.json). */
export function readSpentSeconds(searchDir: string): number {
  const path = join(searchDir, BUDGET_FILE);
  if (!existsSync(path)) return 0;
  let state: Partial<BudgetFile>;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as Partial<BudgetFile>;
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
  }
  const spent = state.spentSeconds;
  if (state.format !== BUDGET_FORMAT || typeof spent !== 'number' || !Number.isFinite(spent) || spent < 0) {
    throw new Error(
      `${path}: expected {"format": "${BUDGET_FORMAT}", "spentSeconds": <seconds ≥ 0>}, got ${JSON.stringify(state)}`,
    );
  }
  return spent;
}

const minutes = (seconds: number) => (seconds / 60).toFixed(1);

/** "5.2 of 8.0 min left", or with `of`: "5.2 of 8.0 min of <of> left" (never below 0). */
export function describeBudgetLeft(budgetMinutes: number, spentSeconds: number, of?: string): string {
  const left = Math.max(0, budgetMinutes * 60 - spentSeconds);
  return `${minutes(left)} of ${minutes(budgetMinutes * 60)} min${of ? ` of ${of}` : ''} left`;
}

/** The budget of one session: what earlier sessions spent plus the time since start(). */
export class SearchBudget {
  readonly spentBefore: number;
  private startedAt: number | undefined;

  constructor(
    private readonly searchDir: string,
    readonly budgetMinutes: number,
  ) {
    this.spentBefore = readSpentSeconds(searchDir);
  }

  /** Starts counting this session's time. */
  start(): void {
    this.startedAt = performance.now();
  }

  /** Seconds spent by every session, this one included. */
  spentSeconds(): number {
    const now = this.startedAt === undefined ? 0 : (performance.now() - this.startedAt) / 1000;
    return this.spentBefore + now;
  }

  exhausted(): boolean {
    return this.spentSeconds() >= this.budgetMinutes * 60;
  }

  /** Writes the time spent so far into the search folder. */
  record(): void {
    const state: BudgetFile = { format: BUDGET_FORMAT, spentSeconds: this.spentSeconds() };
    writeFileAtomic(join(this.searchDir, BUDGET_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** "0.5 of 8 min" (the progress line of a generation). */
  progress(): string {
    return `${minutes(this.spentSeconds())} of ${this.budgetMinutes} min`;
  }

  left(): string {
    return describeBudgetLeft(this.budgetMinutes, this.spentSeconds());
  }
}
