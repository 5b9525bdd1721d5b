/**
 * Defaults that the command line shows in its help text, in a module that loads nothing:
 * `vmicaster --help` must not load the signing or HTTP code that uses them.
 */

/** Days from publication to a list's dc:date:expires. */
export const DEFAULT_LIFETIME_DAYS = 28;

/** The largest body the push API accepts. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
