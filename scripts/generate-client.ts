import { writeFileSync } from 'node:fs';
import { buildApp, openRuntime } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLIENT_SCHEMA_PATH, clientTypesFor } from './client-types.ts';

/** Regenerates the web apps' typed client (web/src/api/schema.d.ts) from the app's OpenAPI document. */
const runtime = await openRuntime(loadConfig(), { applicationName: 'hotpath-generate-client' });
try {
  const app = await buildApp(runtime, false);
  await app.ready();
  writeFileSync(CLIENT_SCHEMA_PATH, await clientTypesFor(app.swagger()));
  await app.close();
  process.stderr.write(`wrote ${CLIENT_SCHEMA_PATH}\n`);
} finally {
  await runtime.close();
}
