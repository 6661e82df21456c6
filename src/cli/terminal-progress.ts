import type { StepRunner } from '../local/progress.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Steps shorter than this show nothing: progress is for what a person would wonder about. */
const QUIET_MS = 1000;

/**
 * Progress for a step on a terminal: after a second, a spinner with the step's name and the
 * time so far on stderr, replaced by "name: done in 3.2 s" at the end. Off the terminal, nothing.
 */
export function terminalSteps(
  stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'> = process.stderr,
  quietMs = QUIET_MS,
): StepRunner {
  if (!stream.isTTY) return (_label, work) => work();
  return async (label, work) => {
    const started = Date.now();
    let frame = 0;
    let shown = false;
    const draw = (): void => {
      shown = true;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length] ?? ''} ${label} … ${seconds} s`);
    };
    let timer: NodeJS.Timeout | undefined;
    const start = setTimeout(() => {
      draw();
      timer = setInterval(draw, 100);
    }, quietMs);
    let outcome = 'failed';
    try {
      const result = await work();
      outcome = 'done';
      return result;
    } finally {
      clearTimeout(start);
      if (timer) clearInterval(timer);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (shown) stream.write(`\r\x1b[2K${label}: ${outcome} after ${seconds} s\n`);
    }
  };
}
