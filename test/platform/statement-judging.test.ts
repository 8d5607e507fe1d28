import { describe, expect, it } from 'vitest';
import { statementName, statementShape } from '../../src/platform/db/accounting.ts';
import { judgeStatements } from '../../src/platform/db/query-budget.ts';
import { RequestLedger } from '../../src/platform/request-ledger.ts';

const record = (ledger: RequestLedger, text: string, params: unknown[], callSite: string) => {
  ledger.db.count += 1;
  ledger.statements.push({
    text,
    shape: statementShape(text),
    params: JSON.stringify(params),
    callSite,
    durationMs: 1,
  });
};

describe('statement shapes and names', () => {
  it('folds literals, parameters and IN lists', () => {
    expect(statementShape("SELECT * FROM t WHERE a = 'x' AND b = 42 AND c IN ($1, $2, $3)")).toBe(
      'SELECT * FROM t WHERE a = ? AND b = ? AND c IN ($n)',
    );
    expect(statementShape('SELECT 1 FROM t WHERE id IN (1, 2, 3)')).toBe(
      statementShape('SELECT 7 FROM t WHERE id IN (4)'),
    );
  });

  it('names a statement by its leading comment, else by verb and table', () => {
    expect(statementName('/* documents.latestApproved */ SELECT 1')).toBe('documents.latestApproved');
    expect(statementName('SELECT a FROM "document_registry" WHERE x')).toBe('select document_registry');
    expect(statementName('begin')).toBe('begin');
  });
});

describe('budgets and the N+1 rule', () => {
  it('passes a request within budget', () => {
    const ledger = new RequestLedger(true);
    record(ledger, 'SELECT a FROM t WHERE id = $1', [1], 'src/x.ts:10');
    expect(judgeStatements(ledger, 1, 'GET /x')).toEqual([]);
  });

  it('names the statements of a request over budget', () => {
    const ledger = new RequestLedger(true);
    record(ledger, 'SELECT a FROM t WHERE id = $1', [1], 'src/x.ts:10');
    record(ledger, 'SELECT b FROM u WHERE id = $1', [1], 'src/x.ts:11');
    const [violation] = judgeStatements(ledger, 1, 'GET /x');
    expect(violation?.kind).toBe('budget');
    expect(violation?.message).toContain('issued 2 SQL statements; its budget is 1');
    expect(violation?.message).toContain('src/x.ts:11');
  });

  it('flags one statement shape run from one call site with different parameters', () => {
    const ledger = new RequestLedger(true);
    for (const id of [1, 2, 3]) record(ledger, 'SELECT a FROM t WHERE id = $1', [id], 'src/loop.ts:42');
    const violations = judgeStatements(ledger, 10, 'GET /loop');
    expect(violations).toHaveLength(1);
    expect(violations[0]?.message).toContain('N+1');
    expect(violations[0]?.message).toContain('src/loop.ts:42');
  });

  it('does not flag repeated identical statements or the same shape from different call sites', () => {
    const ledger = new RequestLedger(true);
    record(ledger, 'BEGIN', [], 'src/tx.ts:1');
    record(ledger, 'BEGIN', [], 'src/tx.ts:1');
    record(ledger, 'SELECT a FROM t WHERE id = $1', [1], 'src/a.ts:1');
    record(ledger, 'SELECT a FROM t WHERE id = $1', [2], 'src/b.ts:1');
    expect(judgeStatements(ledger, 10, 'GET /ok')).toEqual([]);
  });
});
