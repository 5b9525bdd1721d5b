/** The program name, as printed in messages and errors. */
export const NAME = 'vmicaster';

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
