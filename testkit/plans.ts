import { sql } from 'kysely';
import type { AnyKysely } from '../src/platform/db/database.ts';
import { RequestLedger, withLedger } from '../src/platform/request-ledger.ts';

export interface PlanSummary {
  /** Node types in the plan, e.g. "Index Scan", "Seq Scan". */
  nodes: string[];
  /** Indexes the plan probes. */
  indexes: string[];
  /** Relations read by a sequential scan. */
  seqScans: string[];
  text: string;
}

export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/**
 * Runs `work` (a real query function) while recording its statements, then EXPLAINs each statement
 * exactly as it was sent, with its parameters. Plans are checked for the code's own SQL, not a copy.
 */
export async function plansOf(db: AnyKysely, work: () => Promise<unknown>): Promise<PlanSummary[]> {
  const summaries: PlanSummary[] = [];
  for (const { text, plan } of await explainStatements(db, work, { analyze: false })) {
    const summary: PlanSummary = { nodes: [], indexes: [], seqScans: [], text };
    const visit = (node: PlanNode) => {
      summary.nodes.push(node['Node Type']);
      if (node['Index Name']) summary.indexes.push(node['Index Name']);
      if (node['Node Type'] === 'Seq Scan' && node['Relation Name'])
        summary.seqScans.push(node['Relation Name']);
      for (const child of node.Plans ?? []) visit(child);
    };
    visit(plan);
    summaries.push(summary);
  }
  return summaries;
}

export interface ExplainedStatement {
  text: string;
  plan: PlanNode;
  /** With `analyze`: the statement's execution time as PostgreSQL measured it, and the plan as text. */
  executionMs: number | undefined;
  planText: string;
}

/**
 * Runs `work` (real query functions) while recording its statements, then EXPLAINs each read exactly
 * as it was sent, with its parameters; with `analyze`, runs it again under EXPLAIN ANALYZE.
 */
export async function explainStatements(
  db: AnyKysely,
  work: () => Promise<unknown>,
  options: { analyze: boolean },
): Promise<ExplainedStatement[]> {
  const ledger = new RequestLedger(true);
  await withLedger(ledger, work);
  const explained: ExplainedStatement[] = [];
  for (const statement of [...ledger.statements, ...ledger.partStatements]) {
    if (!/^\s*(\/\*[\s\S]*?\*\/\s*)?(SELECT|WITH|UPDATE|INSERT|DELETE)/i.test(statement.text)) continue;
    const params = JSON.parse(statement.params) as unknown[] | null;
    const statementSql = sql.raw(inline(statement.text, params ?? []));
    const explain = options.analyze ? 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' : 'EXPLAIN (FORMAT JSON) ';
    const { rows } = await sql<{
      'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time'?: number }>;
    }>`${sql.raw(explain)}${statementSql}`.execute(db);
    const root = rows[0]?.['QUERY PLAN'][0];
    if (!root) continue;
    let planText = '';
    if (options.analyze) {
      const { rows: textRows } = await sql<{ 'QUERY PLAN': string }>`${sql.raw(
        'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) ',
      )}${statementSql}`.execute(db);
      planText = textRows.map((row) => row['QUERY PLAN']).join('\n');
    }
    explained.push({ text: statement.text, plan: root.Plan, executionMs: root['Execution Time'], planText });
  }
  return explained;
}

/** Substitutes $n with literals, so EXPLAIN plans the statement with its real values. */
function inline(text: string, params: unknown[]): string {
  return text.replace(/\$(\d+)/g, (_match, index: string) => literal(params[Number(index) - 1]));
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `ARRAY[${value.map(literal).join(', ')}]`;
  return `'${String(value).replaceAll("'", "''")}'`;
}
