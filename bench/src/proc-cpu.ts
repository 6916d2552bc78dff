/**
 * CPU time of processes from /proc (Linux only): utime + stime, and for a process tree the time of children that
 * already exited (cutime + cstime, added to a parent when it reaps them). PostgreSQL backends come and go during a
 * run; the postmaster reaps every one, so postmaster (own + reaped children) + every live child, read before and
 * after, counts each backend's CPU exactly once whether it lived through the run, started or ended in it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Without /proc (not Linux) every figure here is NaN, and the bench's tables say so instead of failing. */
const HAVE_PROC = existsSync('/proc/stat');

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Stat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  own: number;
  /** cutime + cstime: children this process has reaped. */
  reaped: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  const at = (field: number) => Number(fields[field - 3]);
  return { ppid: at(4), own: at(14) + at(15), reaped: at(16) + at(17) };
}

/** CPU milliseconds of one process so far (its threads included), or null when it is gone. */
export function processCpuMs(pid: number): number | null {
  if (!HAVE_PROC) return NaN;
  const stat = readStat(pid);
  return stat === null ? null : (stat.own * 1000) / clockTicks();
}

/** CPU milliseconds of `root` and all its descendants so far, those already reaped included. */
export function treeCpuMs(root: number): number {
  if (!HAVE_PROC) return NaN;
  const stats = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) stats.set(pid, stat);
  }
  const children = new Map<number, number[]>();
  for (const [pid, stat] of stats) {
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  let ticks = 0;
  const visit = (pid: number) => {
    const stat = stats.get(pid);
    if (!stat) return;
    ticks += stat.own + stat.reaped;
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return (ticks * 1000) / clockTicks();
}

/** Busy CPU milliseconds of the whole machine so far (all cores; /proc/stat less idle and iowait). */
export function machineBusyMs(): number {
  if (!HAVE_PROC) return NaN;
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
  return ((user + nice + system + irq + softirq + steal) * 1000) / clockTicks();
}
