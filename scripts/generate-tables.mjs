// Writes src/tables.ts, the TypeScript interfaces of hotpath's tables, from a database migrated to
// the latest schema (kysely-codegen reads its catalogue). `npm run generate:tables` after a migration
// changes; test/platform/tables.test.ts fails while the file and the migrations disagree.
//
//   DATABASE_URL=postgres://… npm run generate:tables     migrates that database, then writes the file
//   node scripts/generate-tables.mjs --print              prints what the file should hold
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('generate-tables: set DATABASE_URL to a database it may migrate\n');
  process.exit(2);
}
const print = process.argv.includes('--print');
if (!print)
  execFileSync(process.execPath, [path.join(root, 'bin/hotpath.js'), 'migrate'], { stdio: 'inherit' });

const generated = execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/kysely-codegen/dist/cli/bin.js'),
    '--url',
    url,
    '--dialect',
    'postgres',
    '--default-schema',
    'public',
    '--exclude-pattern',
    'kysely_*',
    // As the pool parses it (src/platform/db/database.ts): int8 as a number.
    '--type-mapping',
    JSON.stringify({ int8: 'number' }),
    '--log-level',
    'error',
    '--print',
  ],
  { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
);
const tables = `${generated.trim()}\n`;
if (print) process.stdout.write(tables);
else {
  writeFileSync(path.join(root, 'src/tables.ts'), tables);
  process.stderr.write('wrote src/tables.ts\n');
}
