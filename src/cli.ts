import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Runtime } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { ROLES, type Role } from './platform/auth/tokens.ts';

// Each command imports what it uses when it runs: `hotpath --help` and `token create` load only this
// file, commander and the configuration, not the server.
const manifest = createRequire(import.meta.url)('../package.json') as { version: string };
const say = (message: string) => process.stderr.write(`${message}\n`);

/** Opens what a command needs, runs it, and always closes (releasing the embedded database). */
async function withRuntime<T>(name: string, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const [{ openRuntime }, { migrateToLatest }] = await Promise.all([
    import('./app.ts'),
    import('./platform/db/migrations.ts'),
  ]);
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

const wholeNumber = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
};

const program = new Command('hotpath')
  .description('Read-heavy APIs served fast, with the measurements to prove it')
  .version(`hotpath ${manifest.version} on Node.js ${process.version}`)
  .showHelpAfterError();

program
  .command('serve')
  .description('apply pending migrations and serve the HTTP API')
  .option('--demo', 'load the demo data first, unless it is already loaded')
  .option(
    '--workers <n>',
    'processes serving the API (default HOTPATH_WORKERS, else one per core; 1 serves in this process)',
    positiveInteger,
  )
  .action(async (options: { demo?: boolean; workers?: number }) => {
    const { serve } = await import('./serve.ts');
    const config = loadConfig();
    await serve(options.workers === undefined ? config : { ...config, workers: options.workers }, {
      demo: options.demo === true,
      log: say,
    });
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
  .description(
    "load demo data once: documents with histories and a legacy-layout section, 3 hospitals' worklists, 3 shops",
  )
  .action(() =>
    withRuntime('demo', async (runtime) => {
      const [{ loadDocumentsDemo }, { loadWorklistDemo }, { loadDashboardDemo }, { demoFhirPort }] =
        await Promise.all([
          import('./modules/documents/operations/demo.ts'),
          import('./modules/worklist/operations/demo.ts'),
          import('./modules/dashboard/operations/demo.ts'),
          import('./serve.ts'),
        ]);
      const loadedDocuments = await loadDocumentsDemo(
        { db: runtime.database.db, store: runtime.store, config: runtime.config },
        { onlyIfAbsent: true },
      );
      const fhirBaseUrl = `http://${runtime.config.host}:${demoFhirPort(runtime.config)}/fhir`;
      const loadedWorklist = await loadWorklistDemo(
        { db: runtime.database.db, store: runtime.store },
        { onlyIfAbsent: true, fhirBaseUrl },
      );
      const loadedShops = await loadDashboardDemo(runtime.database.db, { onlyIfAbsent: true });
      if (!loadedDocuments && !loadedWorklist && !loadedShops) say('the demo data is already loaded');
    }),
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
    async (options: {
      role: Role;
      subject: string;
      facility: string[];
      merchant: string[];
      expiresIn: number;
    }) => {
      const [{ TokenAuthority }, { tokenSecretOf }] = await Promise.all([
        import('./platform/auth/tokens.ts'),
        import('./platform/data-dir.ts'),
      ]);
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
      const { backfillRegistry } = await import('./modules/documents/operations/backfill.ts');
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
      const { importBucket } = await import('./modules/documents/operations/import-bucket.ts');
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
  .description(
    'check every registry row against the versions table and storage, and storage against the database (orphan objects, unfinished writes); exit 1 on drift',
  )
  .option(
    '--fix',
    'repair registry rows from the versions table; delete orphan objects and unfinished writes',
  )
  .option(
    '--older-than <minutes>',
    'orphans and unfinished writes count once this old (younger ones may be uploads in flight)',
    wholeNumber,
    60,
  )
  .action((options: { fix?: boolean; olderThan: number }) =>
    withRuntime('reconcile', async (runtime) => {
      const [
        { documentObjects, reconcileRegistry },
        { attachmentObjects },
        { inboxObjects },
        { sweepStorage },
      ] = await Promise.all([
        import('./modules/documents/operations/reconcile.ts'),
        import('./modules/worklist/service.ts'),
        import('./modules/worklist/ingestion/service.ts'),
        import('./platform/storage/orphans.ts'),
      ]);
      const fix = options.fix === true;
      const report = (line: string) => process.stdout.write(`${line}\n`);
      const result = await reconcileRegistry(runtime.database.db, runtime.store, {
        fix,
        showProgress: true,
        report,
      });
      process.stdout.write(
        `checked ${result.checked} documents, ${result.mismatches} mismatches${fix ? `, ${result.fixed} fixed` : ''} in ${result.seconds.toFixed(2)} s\n`,
      );
      const { db } = runtime.database;
      const swept = await sweepStorage(
        runtime.store,
        [documentObjects(db), attachmentObjects(db), inboxObjects(db)],
        {
          before: new Date(Date.now() - options.olderThan * 60_000),
          remove: fix,
          report,
        },
      );
      const unfinished = swept.unfinished?.length;
      process.stdout.write(
        `storage: ${swept.orphans.length} orphan objects, ${unfinished ?? 'unknown (the store does not list them)'} unfinished writes older than ${options.olderThan} min${fix ? `, ${swept.removed} removed` : ''}\n`,
      );
      const unresolved =
        result.mismatches - result.fixed + (fix ? 0 : swept.orphans.length + (unfinished ?? 0));
      if (unresolved > 0) process.exitCode = 1;
    }),
  );

program
  .command('fhir-dev-server')
  .description('serve an in-memory FHIR R4 server for development and benchmarks; prints its base URL')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', positiveInteger, 4000)
  .option(
    '--latency-ms <ms>',
    'delay added to every FHIR request',
    (value: string) => {
      if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds');
      return Number(value);
    },
    0,
  )
  .option('--no-synthesize', 'answer only Patients stored with PUT, instead of making one up for any id')
  .action(async (options: { host: string; port: number; latencyMs: number; synthesize: boolean }) => {
    const [{ default: closeWithGrace }, { startFhirDevServer }] = await Promise.all([
      import('close-with-grace'),
      import('./modules/worklist/fhir/dev-server.ts'),
    ]);
    const server = await startFhirDevServer({
      host: options.host,
      port: options.port,
      latencyMs: options.latencyMs,
      synthesizePatients: options.synthesize,
    });
    closeWithGrace({ delay: 5_000 }, () => server.close());
    process.stdout.write(`${server.baseUrl}\n`);
    say('faults, latency and stats under /_dev; stop with Ctrl-C');
  });

const worklist = program.command('worklist').description('the integration worklist');
worklist
  .command('generate')
  .description('fill the worklist at benchmark scale: facilities, patients, requests and what hangs off them')
  .option('--facilities <count>', 'facilities to create', positiveInteger, 800)
  .option('--requests <count>', 'integration requests to create', positiveInteger, 1_000_000)
  .option('--patients-per-facility <count>', 'patients of each facility', positiveInteger, 2000)
  .option('--days <days>', 'requests arrive over this many days, up to now', positiveInteger, 365)
  .option('--seed <seed>', 'the same seed generates the same data', positiveInteger, 1)
  .option('--append', 'add to a database that already has worklist data')
  .action(
    (options: {
      facilities: number;
      requests: number;
      patientsPerFacility: number;
      days: number;
      seed: number;
      append?: boolean;
    }) =>
      withRuntime('worklist-generate', async (runtime) => {
        const { generateLargeWorklist } = await import('./modules/worklist/operations/generate.ts');
        const result = await generateLargeWorklist(runtime.database.db, {
          ...options,
          append: options.append === true,
          showProgress: true,
        });
        process.stdout.write(
          `generated ${result.facilityIds.length} facilities, ${result.providers} providers, ${result.patients} patients, ${result.requests} requests, ${result.attachments} attachments, ${result.verifications} verifications in ${result.seconds.toFixed(1)} s: ${result.requestsPerSecond} requests/s\n`,
        );
      }),
  );

program
  .command('mllp')
  .description('receive HL7 v2 over MLLP alone, without the HTTP API (HOTPATH_MLLP_PORT, else 2575)')
  .option('--port <port>', 'port to listen on', wholeNumber)
  .action(async (options: { port?: number }) => {
    const [
      { default: closeWithGrace },
      { openRuntime, ingestionDepsOf },
      { migrateToLatest },
      { startMllpListener },
    ] = await Promise.all([
      import('close-with-grace'),
      import('./app.ts'),
      import('./platform/db/migrations.ts'),
      import('./modules/worklist/ingestion/mllp-listener.ts'),
    ]);
    const config = loadConfig();
    const runtime = await openRuntime(config, { applicationName: 'hotpath-mllp', log: say });
    await migrateToLatest(runtime.database.db);
    const log = { info: say, warn: say };
    const listener = await startMllpListener(ingestionDepsOf(runtime, say), {
      port: options.port ?? config.mllp.port ?? 2575,
      host: config.host,
      maxMessageBytes: config.uploadLimitBytes,
      idleTimeoutMs: config.mllp.idleTimeoutMs,
      log,
    });
    closeWithGrace({ delay: 10_000 }, async () => {
      await listener.close();
      await runtime.close();
    });
    say(
      `receiving HL7 v2 over MLLP on ${config.host}:${listener.port}; stop with Ctrl-C (messages in hand finish first)`,
    );
  });

const ingest = program
  .command('ingest')
  .description('documents from files, a watched folder or an MSSanté mailbox, as the inbox takes them');
ingest
  .command('files', { isDefault: true })
  .description(
    'read HL7 v2 messages or batches, CDA R2 documents, FHIR DocumentReferences, PDFs, scans (TIFF, PNG, JPEG) or IHE XDM zips from files (`hotpath ingest FILE…` is the same)',
  )
  .argument('<files...>', 'files to ingest')
  .requiredOption('--facility <id>', 'the facility that receives them')
  .addOption(
    new Option(
      '--source <source>',
      'where they came from (default: lab, or imaging for imaging reports)',
    ).choices(['mssante', 'lab', 'imaging', 'device', 'paper']),
  )
  .action(
    (
      files: string[],
      options: { facility: string; source?: 'mssante' | 'lab' | 'imaging' | 'device' | 'paper' },
    ) =>
      withRuntime('ingest', async (runtime) => {
        const [{ ingestFiles }, { ingestionDepsOf }] = await Promise.all([
          import('./modules/worklist/operations/ingest-files.ts'),
          import('./app.ts'),
        ]);
        const results = await ingestFiles(ingestionDepsOf(runtime, say), files, {
          facilityId: options.facility,
          source: options.source,
          report: (line) => process.stdout.write(`${line}\n`),
        });
        const failed = results.filter(
          (result) => result.error || result.outcomes.some((outcome) => outcome.outcome === 'rejected'),
        );
        if (failed.length > 0) process.exitCode = 1;
      }),
  );
ingest
  .command('watch')
  .description(
    'ingest every file dropped into a directory (and those already there) once its size stops changing, then move it to DIR/.done/ or DIR/.failed/ beside a .reason.txt; runs until Ctrl-C',
  )
  .argument('<dir>', 'the directory to watch')
  .requiredOption('--facility <id>', 'the facility that receives them')
  .addOption(
    new Option('--source <source>', 'where they come from')
      .choices(['paper', 'lab', 'device'])
      .makeOptionMandatory(),
  )
  .option('--stability-ms <ms>', 'how long a file must stay unchanged before it is read', wholeNumber, 2000)
  .option('--concurrency <n>', 'files ingested at once', positiveInteger, 1)
  .option('--poll', 'list the directory every second instead of waiting for events (network shares)')
  .option(
    '--no-ocr',
    'leave the scans it receives to the OCR job of hotpath serve instead of reading them here',
  )
  .action(
    async (
      directory: string,
      options: {
        facility: string;
        source: 'paper' | 'lab' | 'device';
        stabilityMs: number;
        concurrency: number;
        poll?: boolean;
        ocr: boolean;
      },
    ) => {
      const [
        { default: closeWithGrace },
        { openRuntime, ingestionDepsOf },
        { migrateToLatest },
        { watchFolder },
      ] = await Promise.all([
        import('close-with-grace'),
        import('./app.ts'),
        import('./platform/db/migrations.ts'),
        import('./modules/worklist/operations/watch-folder.ts'),
      ]);
      const config = loadConfig();
      const runtime = await openRuntime(config, { applicationName: 'hotpath-ingest-watch', log: say });
      let watch: Awaited<ReturnType<typeof watchFolder>>;
      let reading: { close(): Promise<void> } | undefined;
      try {
        await migrateToLatest(runtime.database.db);
        watch = await watchFolder(ingestionDepsOf(runtime, say), {
          directory,
          facilityId: options.facility,
          source: options.source,
          maxFileBytes: config.uploadLimitBytes,
          stabilityThresholdMs: options.stabilityMs,
          concurrency: options.concurrency,
          usePolling: options.poll === true,
          log: (line) => process.stdout.write(`${line}\n`),
          warn: say,
        });
        if (options.ocr) {
          const { startReadingWorker } = await import('./modules/worklist/ingestion/reading-job.ts');
          reading = await startReadingWorker({
            ...ingestionDepsOf(runtime, say),
            queue: runtime.integrationQueue,
            log: say,
            options: { pageTimeoutMs: config.ocr.pageTimeoutSeconds * 1000, maxPages: config.ocr.maxPages },
          });
        }
      } catch (error) {
        await runtime.close();
        throw error;
      }
      // A file in hand finishes (a large PDF may take a while); what waits stays for the next start.
      closeWithGrace({ delay: 30_000 }, async () => {
        await watch.close();
        await runtime.close();
        await reading?.close();
      });
      say(
        `watching ${watch.directory} for facility ${options.facility}; stop with Ctrl-C (the file in hand finishes first)`,
      );
    },
  );
ingest
  .command('mailbox')
  .description(
    "poll an MSSanté mailbox over IMAP: each mail's PDF and CDA attachments and IHE_XDM.zip documents into the worklist, the mail moved to the processed or failed folder, an MDN sent when asked for; runs until Ctrl-C",
  )
  .requiredOption(
    '--imap <url>',
    'imaps://user@host/INBOX (imap:// uses STARTTLS when offered); the password in the URL or HOTPATH_IMAP_PASSWORD',
  )
  .requiredOption('--facility <id>', 'the facility that receives its documents')
  .option('--processed-folder <path>', 'where processed mail goes, created when missing', 'hotpath/processed')
  .option('--failed-folder <path>', 'where failed mail goes, created when missing', 'hotpath/failed')
  .option(
    '--smtp <url>',
    'smtp:// or smtps:// server for the MDNs (without it, MDN requests are only logged)',
  )
  .option('--from <address>', "the mailbox's address, the MDNs' From (default: the IMAP user)")
  .option('--interval <seconds>', 'between polls', positiveInteger, 60)
  .option(
    '--once',
    'poll once and exit: exit code 1 if a mail failed or was left, or the mailbox could not be read',
  )
  .option('--insecure-tls', 'accept any TLS certificate (test servers)')
  .action(
    async (options: {
      imap: string;
      facility: string;
      processedFolder: string;
      failedFolder: string;
      smtp?: string;
      from?: string;
      interval: number;
      once?: boolean;
      insecureTls?: boolean;
    }) => {
      const { parseImapUrl } = await import('./modules/worklist/ingestion/mailbox.ts');
      // Said before anything is opened: a URL that cannot be used, an SMTP URL that is not one.
      parseImapUrl(options.imap);
      if (options.smtp !== undefined && !/^smtps?:\/\/./.test(options.smtp)) {
        throw new Error(`--smtp must be an smtp:// or smtps:// URL (got '${options.smtp}')`);
      }
      await withRuntime('ingest-mailbox', async (runtime) => {
        const [{ startMailboxIngestion, facilityExists, describeMail }, { ingestionDepsOf }] =
          await Promise.all([
            import('./modules/worklist/operations/mailbox-ingestion.ts'),
            import('./app.ts'),
          ]);
        if (!(await facilityExists(runtime.database.db, options.facility))) {
          throw new Error(`facility ${options.facility} does not exist`);
        }
        const mailbox = startMailboxIngestion(ingestionDepsOf(runtime, say), {
          facilityId: options.facility,
          imapUrl: options.imap,
          processedFolder: options.processedFolder,
          failedFolder: options.failedFolder,
          smtpUrl: options.smtp,
          from: options.from,
          intervalSeconds: options.once ? 0 : options.interval,
          insecureTls: options.insecureTls === true,
          // A line per mail on stdout (the report); the poller's warnings on stderr.
          log: { info: () => {}, warn: say },
          report: (mail) => process.stdout.write(`${describeMail(mail)}\n`),
        });
        if (options.once) {
          try {
            const result = await mailbox.pollOnce();
            say(`${result.mails.length} mails taken from ${mailbox.mailbox}`);
            if (result.error || result.mails.some((mail) => mail.outcome !== 'processed'))
              process.exitCode = 1;
          } finally {
            await mailbox.close();
          }
          return;
        }
        say(
          `polling ${mailbox.mailbox} every ${options.interval} s for facility ${options.facility}; stop with Ctrl-C (the mail in hand finishes first)`,
        );
        // The first Ctrl-C closes cleanly; a second one, while closing, ends the process.
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        say('stopping: the mail in hand finishes, then the mailbox is closed');
        await mailbox.close();
      });
    },
  );

const facility = program.command('facility').description("the worklist's facilities");
facility
  .command('receive-as')
  .description('route messages whose receiving facility (MSH-6) is one of these identifiers to the facility')
  .argument('<facility>', 'the facility')
  .argument('<identifiers...>', 'identifiers senders put in MSH-6')
  .action((facilityId: string, identifiers: string[]) =>
    withRuntime('facility', async (runtime) => {
      const { addReceivingIdentifiers, receivingIdentifiers } = await import(
        './modules/worklist/operations/ingest-files.ts'
      );
      const result = await addReceivingIdentifiers(runtime.database.db, facilityId, identifiers);
      for (const held of result.heldElsewhere) {
        say(`${held.identifier} already routes to ${held.facility_id}; left as it is`);
      }
      const all = await receivingIdentifiers(runtime.database.db, facilityId);
      process.stdout.write(`${facilityId} receives messages addressed to ${all.join(', ')}\n`);
      if (result.heldElsewhere.length > 0) process.exitCode = 1;
    }),
  );

const dashboard = program.command('dashboard').description('the merchant dashboard');
dashboard
  .command('rebuild')
  .description("recompute the dashboard's projections from the base tables, a merchant per transaction")
  .option('--merchant <id>', 'only this merchant')
  .action((options: { merchant?: string }) =>
    withRuntime('dashboard-rebuild', async (runtime) => {
      const [{ rebuildDashboardProjections }, { dashboardCacheOf }] = await Promise.all([
        import('./modules/dashboard/operations/projections.ts'),
        import('./app.ts'),
      ]);
      const result = await rebuildDashboardProjections(runtime.database.db, {
        cache: dashboardCacheOf(runtime),
        ...(options.merchant ? { merchantId: options.merchant } : {}),
        showProgress: true,
      });
      process.stdout.write(
        `rebuilt the projections of ${result.merchants} merchants in ${result.seconds.toFixed(2)} s\n`,
      );
    }),
  );
dashboard
  .command('verify')
  .description('compare the projections with a from-scratch aggregate; exit 1 on any difference')
  .option('--merchant <id>', 'only this merchant')
  .action((options: { merchant?: string }) =>
    withRuntime('dashboard-verify', async (runtime) => {
      const { verifyDashboardProjections } = await import('./modules/dashboard/operations/projections.ts');
      const result = await verifyDashboardProjections(runtime.database.db, {
        ...(options.merchant ? { merchantId: options.merchant } : {}),
        showProgress: true,
        report: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(
        `checked ${result.merchants} merchants, ${result.differences} differences in ${result.seconds.toFixed(2)} s\n`,
      );
      if (result.differences > 0) process.exitCode = 1;
    }),
  );
dashboard
  .command('generate')
  .description('fill the dashboard at benchmark scale: merchants, products, customers, orders, reviews')
  .option('--merchants <count>', 'merchants to create', positiveInteger, 500)
  .option('--orders <count>', 'orders of each merchant', positiveInteger, 15_000)
  .option('--products <count>', 'products of each merchant', positiveInteger, 200)
  .option('--customers <count>', 'customers of each merchant', positiveInteger, 3000)
  .option('--reviews <count>', 'reviews of each merchant', positiveInteger, 8000)
  .option('--items-per-order <count>', 'average lines per order', positiveInteger, 3)
  .option('--days <days>', 'orders are placed over this many days, up to now', positiveInteger, 365)
  .option(
    '--big-merchant-multiplier <factor>',
    "the first merchant's customers, orders and reviews are this many times the others'",
    positiveInteger,
    10,
  )
  .option('--seed <seed>', 'the same seed generates the same data', positiveInteger, 1)
  .option('--append', 'add to a database that already has merchants')
  .action(
    (options: {
      merchants: number;
      orders: number;
      products: number;
      customers: number;
      reviews: number;
      itemsPerOrder: number;
      days: number;
      bigMerchantMultiplier: number;
      seed: number;
      append?: boolean;
    }) =>
      withRuntime('dashboard-generate', async (runtime) => {
        const { generateLargeDashboard } = await import('./modules/dashboard/operations/generate.ts');
        const result = await generateLargeDashboard(runtime.database.db, {
          ...options,
          append: options.append === true,
          showProgress: true,
        });
        process.stdout.write(
          `generated ${result.merchantIds.length} merchants${result.bigMerchantId ? ` (${result.bigMerchantId} the big one)` : ''}, ${result.products} products, ${result.customers} customers, ${result.orders} orders, ${result.orderItems} order items, ${result.reviews} reviews in ${result.seconds.toFixed(1)} s: ${result.ordersPerSecond} orders/s\n`,
        );
      }),
  );

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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
