import cliProgress from 'cli-progress';

export interface Progress {
  advance(by: number, status?: Record<string, string | number>): void;
  finish(): void;
}

/**
 * A progress bar on stderr when it is a terminal; otherwise a line every few seconds, so CI logs and
 * pipes still show long work moving. stdout stays free for results.
 */
export function progress(label: string, total: number | undefined, unit: string): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          total === undefined
            ? `${label} | {value} ${unit} | {rate} ${unit}/s`
            : `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | eta {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    let done = 0;
    bar.start(total ?? 0, 0, { rate: 0 });
    return {
      advance(by, status) {
        done += by;
        bar.update(done, {
          ...status,
          rate: Math.round(done / Math.max((Date.now() - started) / 1000, 0.001)),
        });
      },
      finish() {
        bar.stop();
      },
    };
  }
  const started = Date.now();
  let done = 0;
  let lastLine = 0;
  const of = total === undefined ? '' : `/${total}`;
  return {
    advance(by) {
      done += by;
      if (Date.now() - lastLine > 2000) {
        lastLine = Date.now();
        process.stderr.write(`${label}: ${done}${of} ${unit}\n`);
      }
    },
    finish() {
      process.stderr.write(
        `${label}: ${done}${of} ${unit} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
    },
  };
}

/**
 * An `onProgress(done, total, phase)` for work in phases (patients, then requests…): a bar per phase,
 * each advanced by the difference from the last report and finished when it reaches its total.
 */
export function phasedProgress<Phase extends string>(
  label: string,
  unitOf: (phase: Phase) => string = (phase) => phase,
): (done: number, total: number, phase: Phase) => void {
  const bars = new Map<Phase, { bar: Progress; done: number }>();
  return (done, total, phase) => {
    const current = bars.get(phase) ?? { bar: progress(`${label} ${phase}`, total, unitOf(phase)), done: 0 };
    bars.set(phase, current);
    current.bar.advance(done - current.done);
    current.done = done;
    if (done === total) current.bar.finish();
  };
}
