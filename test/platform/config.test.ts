import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('configuration from the environment', () => {
  it('defaults to the embedded database, the file-system store and port 3000 on loopback', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      storageUrl: undefined,
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:3000',
      dataDir: path.resolve('.hotpath'),
      uploadLimitBytes: 100 * 1024 * 1024,
      documentsReadPath: 'registry',
    });
  });

  it('reports every problem at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        STORAGE_URL: 'ftp://bucket',
        DOCUMENTS_READ_PATH: 'cache',
        HOTPATH_TOKEN_SECRET: 'short',
        DB_POOL_MAX: '0',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'STORAGE_URL',
      'DOCUMENTS_READ_PATH',
      'HOTPATH_TOKEN_SECRET',
      'DB_POOL_MAX',
    ]) {
      expect(message).toContain(name);
    }
    expect((error as ConfigError).problems).toHaveLength(6);
  });

  it('never echoes a database password', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://user:hunter2@db/x' })).toThrow(/user:\*\*\*@/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://user:hunter2@db/x' })).not.toThrow(/hunter2/);
  });

  it('accepts an S3 storage URL and a public URL', () => {
    const config = loadConfig({
      STORAGE_URL: 's3://docs?region=eu-west-3&endpoint=http://127.0.0.1:9000&forcePathStyle=true',
      HOTPATH_PUBLIC_URL: 'https://docs.example.org/',
      DOCUMENTS_READ_PATH: 'shadow',
    });
    expect(config.storageUrl).toContain('s3://docs');
    expect(config.publicUrl).toBe('https://docs.example.org');
    expect(config.documentsReadPath).toBe('shadow');
  });
});
