import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Secrets hotpath generates for itself on first use, so the CLI and the server agree on them. */
export interface LocalSecrets {
  tokenSecret: string;
  embeddedDbPassword: string;
}

/**
 * Reads `secrets.json` from the data dir, creating it on first use. Creation publishes the file with
 * link(2), which fails if another process won the race, so two first runs never disagree.
 */
export function localSecrets(dataDir: string): LocalSecrets {
  // Traversable but not listable: the embedded server's own user must reach its cluster inside.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const file = path.join(dataDir, 'secrets.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalSecrets;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const fresh: LocalSecrets = {
    tokenSecret: randomBytes(32).toString('base64url'),
    embeddedDbPassword: randomBytes(24).toString('base64url'),
  };
  const draft = `${file}.${process.pid}.tmp`;
  writeFileSync(draft, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(draft);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as LocalSecrets;
}

/** The secret tokens and signed URLs are made with: the configured one, else the data dir's own. */
export function tokenSecretOf(config: { tokenSecret: string | undefined; dataDir: string }): string {
  return config.tokenSecret ?? localSecrets(config.dataDir).tokenSecret;
}
