/**
 * `*` globs (API key scopes, MULE_ENV_ALLOW): the one matcher both use. A pattern is never turned into a regex:
 * `a*a*a*a*a*a*a*a*b` as `^a.*a.*…b$` backtracks polynomially (a 200-character scope against a 10 000-character
 * name took seconds). Here the literal pieces between stars are found left to right, each at its first place
 * after the previous one (taking the first place is always right when `*` is the only wildcard), so a match costs
 * one pass of `indexOf` per piece.
 */
export function globMatches(pattern: string, text: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern === text;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  let from = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    if (piece === '') continue;
    const at = text.indexOf(piece, from);
    if (at < 0 || at + piece.length > end) return false;
    from = at + piece.length;
  }
  return true;
}

/** What an API key scope may look like (`workflow/summarize-*`, `agent/*`, `wasm/echo`): checked by the api and the CLI. */
export const SCOPE_PATTERN = /^[a-z0-9*][a-z0-9._*/-]{0,200}$/;
