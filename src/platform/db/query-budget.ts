import { dbQueriesTotal, queryBudgetViolationsTotal } from '../metrics/registry.ts';
import { currentLedger, RequestLedger, type StatementRecord, withLedger } from '../request-ledger.ts';

export interface BudgetViolation {
  kind: 'budget' | 'n+1';
  message: string;
}

/**
 * Judges one request's statements against its declared budget, and looks for an N+1: the same
 * statement shape from the same call site run two or more times with different parameters (the rule
 * Prosopite applies). Statements repeated with identical parameters (BEGIN, COMMIT) are not N+1.
 */
export function judgeStatements(ledger: RequestLedger, budget: number, route: string): BudgetViolation[] {
  const violations: BudgetViolation[] = [];
  const judged = ledger.db.count - ledger.retriedStatements - ledger.judgedApart;
  if (judged > budget) {
    violations.push({
      kind: 'budget',
      message:
        `${route} issued ${judged} SQL statements; its budget is ${budget}.` +
        (ledger.statements.length > 0 ? `\n${ledger.statements.map(describe).join('\n')}` : ''),
    });
  }
  const bySite = new Map<string, StatementRecord[]>();
  for (const statement of ledger.statements) {
    const key = `${statement.callSite}\u0000${statement.shape}`;
    const group = bySite.get(key) ?? [];
    group.push(statement);
    bySite.set(key, group);
  }
  for (const group of bySite.values()) {
    const distinctParams = new Set(group.map((statement) => statement.params));
    const first = group[0];
    if (first && group.length >= 2 && distinctParams.size >= 2) {
      violations.push({
        kind: 'n+1',
        message: `${route}: N+1 — the same statement ran ${group.length} times from ${first.callSite} with different parameters: ${truncate(first.shape)}`,
      });
    }
  }
  return violations;
}

function describe(statement: StatementRecord, index: number): string {
  return `  ${index + 1}. ${statement.callSite}  ${truncate(statement.shape)}`;
}

function truncate(text: string, max = 240): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export class BudgetExceededError extends Error {
  constructor(readonly violations: BudgetViolation[]) {
    super(violations.map((violation) => violation.message).join('\n'));
    this.name = 'BudgetExceededError';
  }
}

/**
 * Runs one unit of work that has a statement budget of its own (a message of a batch, a message on an
 * MLLP connection), judges it, and bills its costs to the surrounding request's ledger, if any.
 * Violations are counted under `label`; with `strict` (the test suite) they are thrown.
 */
export async function withOwnBudget<T>(
  budget: number,
  label: string,
  options: { strict: boolean; warn?: (message: string) => void },
  work: () => Promise<T>,
): Promise<T> {
  const outer = currentLedger();
  const ledger = new RequestLedger(options.strict || (outer?.traceStatements ?? false));
  try {
    const result = await withLedger(ledger, work);
    const violations = ledger.db.count > 0 ? judgeStatements(ledger, budget, label) : [];
    for (const violation of violations) {
      queryBudgetViolationsTotal.inc({ route: label, kind: violation.kind });
      options.warn?.(violation.message);
    }
    if (violations.length > 0 && options.strict) throw new BudgetExceededError(violations);
    return result;
  } finally {
    // Inside a request its statements count with the request's route; alone (MLLP), under `label`.
    if (outer) outer.absorb(ledger);
    else if (ledger.db.count > 0) dbQueriesTotal.inc({ route: label }, ledger.db.count);
  }
}
