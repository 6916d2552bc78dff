/** Every definition name: lower case, digits, `.`, `_`, `-`; 1 to 63 characters. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function isValidName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/** Job ids are `job-` + a UUID on the wire and a bare UUID in the database. */
const JOB_ID_PATTERN = /^job-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function formatJobId(uuid: string): string {
  return `job-${uuid}`;
}

/** The UUID inside a public job id, or null when the text is not one. */
export function parseJobId(value: string): string | null {
  const match = JOB_ID_PATTERN.exec(value.toLowerCase());
  return match?.[1] ?? null;
}

/** A sha256 as Mule writes and accepts it: 64 lower-case hex characters (module bytes, plans, `wasm/<sha256>` calls). */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
