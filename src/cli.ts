import closeWithGrace from 'close-with-grace';
import { Command, InvalidArgumentError, Option } from 'commander';
import { buildApp, openRuntime, type Runtime, tokenSecretOf } from './app.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { backfillRegistry } from './modules/documents/operations/backfill.ts';
import { loadDocumentsDemo } from './modules/documents/operations/demo.ts';
import { importBucket } from './modules/documents/operations/import-bucket.ts';
import { reconcileRegistry } from './modules/documents/operations/reconcile.ts';
import { ROLES, type Role, TokenAuthority } from './platform/auth/tokens.ts';
import { migrateToLatest } from './platform/db/migrations.ts';

const say = (message: string) => process.stderr.write(`${message}\n`);

/** Opens what a command needs, runs it, and always closes (releasing the embedded database). */
async function withRuntime<T>(name: string, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(loadConfig(), { applicationName: `hotpath-${name}`, log: say });
  try {
    await migrateToLatest(runtime.database.db);
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

const positiveInteger = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
};

const program = new Command('hotpath')
  .description('Read-heavy APIs served fast, with the measurements to prove it')
  .showHelpAfterError();

program
  .command('serve')
  .description('apply pending migrations and serve the HTTP API')
  .option('--demo', 'load the demo data first, unless it is already loaded')
  .action(async (options: { demo?: boolean }) => {
    const config = loadConfig();
    const runtime = await openRuntime(config, { applicationName: 'hotpath-serve', log: say });
    const applied = await migrateToLatest(runtime.database.db);
    if (applied.length > 0) say(`applied migrations: ${applied.join(', ')}`);
    if (options.demo) await loadDocumentsDemo(documentsDependencies(runtime), { onlyIfAbsent: true });
    const app = await buildApp(runtime);
    closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error');
      else app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      await app.close();
      await runtime.close();
    });
    await app.listen({ port: config.port, host: config.host });
    printWelcome(config, runtime.tokens, options.demo === true);
  });

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(() =>
    withRuntime('migrate', async () => {
      say('migrations are up to date');
    }),
  );

program
  .command('demo')
  .description('load demo data: studies, sections, documents with histories, and a legacy-layout section')
  .action(() =>
    withRuntime('demo', (runtime) =>
      loadDocumentsDemo(documentsDependencies(runtime), { onlyIfAbsent: false }),
    ),
  );

const token = program.command('token').description('bearer tokens');
token
  .command('create')
  .description('mint a bearer token; prints the token alone on stdout')
  .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
  .requiredOption('--subject <who>', 'who the token acts as (recorded as uploader, approver…)')
  .option('--facility <id>', 'a facility the token may see (repeatable)', collect, [])
  .option('--merchant <id>', 'a merchant the token may see (repeatable)', collect, [])
  .option('--expires-in <seconds>', 'lifetime in seconds (default 30 days)', positiveInteger, 30 * 24 * 3600)
  .action(
    (options: { role: Role; subject: string; facility: string[]; merchant: string[]; expiresIn: number }) => {
      const authority = new TokenAuthority(tokenSecretOf(loadConfig()));
      const minted = authority.issue({
        subject: options.subject,
        role: options.role,
        facilities: options.facility,
        merchants: options.merchant,
        expiresInSeconds: options.expiresIn,
      });
      process.stdout.write(`${minted}\n`);
    },
  );

program
  .command('backfill')
  .description('rebuild the document registry from the versions table, in batches (idempotent)')
  .option('--batch-size <documents>', 'documents per batch, one transaction each', positiveInteger, 500)
  .action((options: { batchSize: number }) =>
    withRuntime('backfill', async (runtime) => {
      const result = await backfillRegistry(runtime.database.db, {
        batchSize: options.batchSize,
        showProgress: true,
      });
      process.stdout.write(
        `backfilled ${result.documents} documents (${result.versions} versions, ${result.changed} registry rows changed) in ${result.seconds.toFixed(2)} s: ${Math.round(result.versions / Math.max(result.seconds, 0.001))} versions/s\n`,
      );
    }),
  );

program
  .command('import-bucket')
  .description(
    'adopt a bucket in the legacy layout (studies/{study}/{type}/{section}/{id}@{version}.{state}[.ext])',
  )
  .option('--prefix <prefix>', 'only keys under this prefix', 'studies/')
  .action((options: { prefix: string }) =>
    withRuntime('import-bucket', async (runtime) => {
      const result = await importBucket(runtime.database.db, runtime.store, {
        prefix: options.prefix,
        showProgress: true,
      });
      process.stdout.write(
        `listed ${result.listed} keys in ${result.pages} pages: imported ${result.imported} versions of ${result.documents} documents, skipped ${result.skipped} keys that are not versions, ${result.conflicts} conflicting\n`,
      );
    }),
  );

program
  .command('reconcile')
  .description('check every registry row against the versions table and storage; exit 1 on drift')
  .option('--fix', 'repair registry rows from the versions table')
  .action((options: { fix?: boolean }) =>
    withRuntime('reconcile', async (runtime) => {
      const result = await reconcileRegistry(runtime.database.db, runtime.store, {
        fix: options.fix === true,
        showProgress: true,
        report: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(
        `checked ${result.checked} documents, ${result.mismatches} mismatches${options.fix ? `, ${result.fixed} fixed` : ''} in ${result.seconds.toFixed(2)} s\n`,
      );
      if (result.mismatches - result.fixed > 0) process.exitCode = 1;
    }),
  );

function documentsDependencies(runtime: Runtime) {
  return { db: runtime.database.db, store: runtime.store, config: runtime.config };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function printWelcome(config: Config, tokens: TokenAuthority, demo: boolean): void {
  const base = config.publicUrl;
  const reader = tokens.issue({ subject: 'demo-reader', role: 'reader', expiresInSeconds: 24 * 3600 });
  say(`\nhotpath is serving ${base}  (API docs: ${base}/docs, metrics: ${base}/metrics)`);
  say(`a reader token for the next 24 h:\n  export TOKEN=${reader}`);
  if (demo) {
    say(
      `try the hot path:\n  curl -si -H "Authorization: Bearer $TOKEN" ${base}/v1/documents/ONC-2024-001-csr-14-2-001`,
    );
  }
  say('stop with Ctrl-C (in-flight requests finish first)\n');
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    say(error.message);
    process.exit(2);
  }
  say(`hotpath: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
