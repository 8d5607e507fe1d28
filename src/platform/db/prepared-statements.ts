import pg from 'pg';

/** A leading `/* name *\/` comment: how a statement says it is one of the application's own. */
const NAMED = /^\s*\/\*\s*([\w.:-]{1,80})\s*\*\//;

/**
 * A pool client that runs the application's named statements (those opening with a `/* name *\/`
 * comment) as prepared statements: parsed and planned once per connection, then executed by name.
 * PostgreSQL shares this machine's cores with the service, and for a one-row probe its parse and
 * plan cost more than the execution. Statements without a name (Kysely's builder, pg-boss,
 * BEGIN/COMMIT) run as before.
 *
 * Bounded: a connection prepares at most `limit` distinct texts (a statement whose text varies with
 * its input, such as a multi-row VALUES list, would otherwise grow without end); past it, new texts
 * run unprepared.
 */
export function preparingClient(limit: number): typeof pg.Client {
  return class PreparingClient extends pg.Client {
    private readonly preparedNames = new Map<string, string>();

    // biome-ignore lint/suspicious/noExplicitAny: pg.Client's query has a dozen overloads; this passes every one through.
    override query(...args: any[]): any {
      const [text, values] = args;
      if (typeof text === 'string' && Array.isArray(values)) {
        const name = this.nameFor(text);
        if (name) return super.query({ name, text, values }, ...args.slice(2));
      }
      return (super.query as (...passed: unknown[]) => unknown)(...args);
    }

    private nameFor(text: string): string | undefined {
      const known = this.preparedNames.get(text);
      if (known) return known;
      if (this.preparedNames.size >= limit) return undefined;
      const label = NAMED.exec(text)?.[1];
      if (!label) return undefined;
      // Unique on this connection: the same label can head several texts (a page with other filters).
      const name = `${label}#${this.preparedNames.size + 1}`;
      this.preparedNames.set(text, name);
      return name;
    }
  };
}
