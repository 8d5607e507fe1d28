/**
 * A real IMAP server for tests: Debian's dovecot (`apt-get install -y dovecot-imapd`), configured in
 * a temporary directory (its own base_dir, state_dir, log and maildirs, so it never meets a system
 * dovecot), plain IMAP on a free loopback port, one user from a passwd-file. And an SMTP sink (the
 * `smtp-server` package) that keeps every message it is given, for the MDNs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { freePort } from '../../src/platform/free-port.ts';

export const DOVECOT = process.env.DOVECOT_BINARY ?? '/usr/sbin/dovecot';

export interface ImapTestServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** `imap://user:password@127.0.0.1:port/INBOX`. */
  url: string;
  dir: string;
  /** What dovecot logged so far (for a failing test's message). */
  log(): Promise<string>;
  /** Stops dovecot (TERM, then KILL after 10 s) and removes the directory. */
  stop(): Promise<void>;
}

/**
 * Starts dovecot in the foreground as a child process. Run as root (CI and the dev container), the
 * master stays root, its helper processes run as Debian's `dovecot` and `dovenull` users and the
 * mail as `dovecot` (dovecot never accesses mail as root); run as another user, everything runs as
 * that user. Fails, never skips, when dovecot is not installed.
 */
export async function startImapServer(
  options: { user?: string; password?: string } = {},
): Promise<ImapTestServer> {
  if (!existsSync(DOVECOT)) {
    throw new Error(
      `${DOVECOT} is missing: the mailbox tests need a real IMAP server, install it with ` +
        '`apt-get install -y dovecot-imapd` (CI does).',
    );
  }
  const user = options.user ?? 'hotpath';
  const password = options.password ?? 'mailbox-secret';
  // Short: dovecot's unix sockets live under base_dir, and a socket path has at most 107 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'hpimap-'));
  const accounts = accountsFor();
  // The helper processes (auth as `dovecot`, imap as the mail user) read and write under it.
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'run'));
  await mkdir(join(dir, 'state'));
  await mkdir(join(dir, 'mail'));
  if (accounts.mailUid !== undefined) await chown(join(dir, 'mail'), accounts.mailUid, accounts.mailGid!);
  await writeFile(join(dir, 'users'), `${user}:{PLAIN}${password}::::::\n`, { mode: 0o644 });

  let lastError: unknown;
  // A free port can be taken between asking and binding: try another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    await writeFile(join(dir, 'dovecot.conf'), dovecotConfig(dir, port, accounts));
    const child = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitForGreeting(port, child, () => output);
      const log = async () => {
        const path = join(dir, 'dovecot.log');
        return `${output}${existsSync(path) ? await readFile(path, 'utf8') : ''}`;
      };
      return {
        host: '127.0.0.1',
        port,
        user,
        password,
        url: `imap://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/INBOX`,
        dir,
        log,
        async stop() {
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
      await stopChild(child);
    }
  }
  const path = join(dir, 'dovecot.log');
  const log = existsSync(path) ? readFileSync(path, 'utf8') : '';
  await rm(dir, { recursive: true, force: true });
  throw new Error(`dovecot did not start: ${(lastError as Error).message}\n${log}`);
}

interface Accounts {
  internalUser: string;
  loginUser: string;
  mailUser: string;
  mailUid?: number;
  mailGid?: number;
  chroot: boolean;
}

function accountsFor(): Accounts {
  if (process.getuid?.() !== 0) {
    const me = userInfo().username;
    return { internalUser: me, loginUser: me, mailUser: me, chroot: false };
  }
  const dovecot = passwdEntry('dovecot');
  const dovenull = passwdEntry('dovenull');
  if (!dovecot || !dovenull) {
    throw new Error('the `dovecot` and `dovenull` users are missing: reinstall dovecot-core / dovecot-imapd');
  }
  return {
    internalUser: 'dovecot',
    loginUser: 'dovenull',
    mailUser: 'dovecot',
    mailUid: dovecot.uid,
    mailGid: dovecot.gid,
    chroot: true,
  };
}

function passwdEntry(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function dovecotConfig(dir: string, port: number, accounts: Accounts): string {
  return `# Written by test/support/imap-server.ts
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = ${accounts.internalUser}
default_internal_group = ${accounts.internalUser}
default_login_user = ${accounts.loginUser}
first_valid_uid = 0
first_valid_gid = 0
mail_uid = ${accounts.mailUser}
mail_gid = ${accounts.mailUser}
mail_location = maildir:${dir}/mail/%u
mail_fsync = never
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = home=${dir}/mail/%u
}
namespace inbox {
  inbox = yes
}
service imap-login {
  ${accounts.chroot ? '' : 'chroot ='}
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

/** Polls the port until dovecot sends its greeting; fails at once if the process exits. */
async function waitForGreeting(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`dovecot exited (${code ?? signal}) before listening: ${output()}`)),
    ),
  );
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const greeted = await Promise.race([greeting(port), exited]);
    if (greeted) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`dovecot did not answer on port ${port} within 30 s`);
}

function greeting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(2000, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('* OK'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface CapturedMail {
  /** MAIL FROM; `''` for the null sender `<>`. */
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface SmtpSink {
  port: number;
  /** `smtp://127.0.0.1:port`. */
  url: string;
  messages: CapturedMail[];
  close(): Promise<void>;
}

/** An SMTP server on a free loopback port that accepts every message (no TLS, no auth) and keeps it. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: CapturedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        messages.push({
          mailFrom: from === false ? '' : from.address,
          rcptTo: session.envelope.rcptTo.map((to: SMTPServerAddress) => to.address),
          raw: Buffer.concat(chunks),
        });
        // Kept before the 250 is sent: once the sender's sendMail resolves, the message is here.
        callback();
      });
    },
  });
  server.on('error', () => {});
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A client of the test server, as the tests read and append mail with it: connected, quiet. */
export async function connectImapClient(server: ImapTestServer): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user: server.user, pass: server.password },
    logger: false,
    disableAutoIdle: true,
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}
