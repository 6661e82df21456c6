/** What an apply did to one object, as kubectl reports it. */
export type ApplyResult = 'created' | 'configured' | 'unchanged';
