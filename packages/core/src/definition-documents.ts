/**
 * Definition files (README "Definitions"): YAML or JSON text holding one or more documents, each with a `kind`. Pure text
 * parsing; reading files from disk is `files.ts`.
 */
import { parseAllDocuments } from 'yaml';
import { DEFINITION_KINDS, parseDefinition, type DefinitionByKind, type DefinitionKind } from './definitions.js';
import { MuleError } from './errors.js';

export type DefinitionDocument = {
  [K in DefinitionKind]: { kind: K; definition: DefinitionByKind[K]; source: string };
}[DefinitionKind];

/** Parses every document of a file's text; `source` names the file in error messages. */
export function parseDefinitionText(text: string, source: string): DefinitionDocument[] {
  const raws: unknown[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: true })) {
    if (doc.errors.length > 0) {
      throw new MuleError('invalid_request', `${source}: ${doc.errors[0]!.message}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) raws.push(...value);
    else raws.push(value);
  }
  return raws.map((raw, index) => parseDocument(raw, `${source}#${index + 1}`));
}

function parseDocument(raw: unknown, source: string): DefinitionDocument {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new MuleError('invalid_request', `${source}: a definition document must be an object with "kind"`);
  }
  const { kind, ...body } = raw as Record<string, unknown>;
  if (typeof kind !== 'string' || !(DEFINITION_KINDS as readonly string[]).includes(kind)) {
    throw new MuleError('invalid_request', `${source}: kind must be one of ${DEFINITION_KINDS.join(', ')}`, {
      param: 'kind',
    });
  }
  try {
    const definition = parseDefinition(kind as DefinitionKind, body);
    return { kind, definition, source } as DefinitionDocument;
  } catch (error) {
    if (error instanceof MuleError) {
      throw new MuleError('invalid_request', `${source} (${kind}): ${error.message}`, { param: error.param });
    }
    throw error;
  }
}
