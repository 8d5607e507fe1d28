import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times: 100 on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  /** User and system time, every thread, in ticks. */
  ticks: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: fields are counted after its end.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

const processes = () =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);

/**
 * CPU seconds a process and its children have used so far, read from /proc (Linux; undefined
 * elsewhere). Children are found anew at each reading, so connections a server opens in between count.
 */
export function cpuSeconds(rootPid: number | undefined): number | undefined {
  if (rootPid === undefined || procStat(rootPid) === undefined) return undefined;
  const stats = new Map<number, ProcStat>();
  for (const pid of processes()) {
    const stat = procStat(pid);
    if (stat) stats.set(pid, stat);
  }
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = stats.get(at)?.ppid) {
      if (at === rootPid) return true;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, stat] of stats) if (inTree(pid)) ticks += stat.ticks;
  return ticks / TICKS_PER_SECOND;
}

/** The postmaster of a PostgreSQL on this machine listening on `port` (the embedded one's command line names it). */
export function postmasterOn(port: number): number | undefined {
  for (const pid of processes()) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('-p');
      if (/(^|\/)postgres$/.test(args[0] ?? '') && at !== -1 && args[at + 1] === String(port)) return pid;
    } catch {}
  }
  return undefined;
}
