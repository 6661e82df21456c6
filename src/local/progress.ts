/**
 * How a long step is shown: the CLI passes one that draws progress on a terminal; tests and
 * library callers get the plain one.
 */
export type StepRunner = <T>(label: string, work: () => Promise<T>) => Promise<T>;

export const runSilently: StepRunner = (_label, work) => work();
