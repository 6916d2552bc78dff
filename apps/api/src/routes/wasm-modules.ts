/**
 * PUT /v1/wasm/modules/{name}: raw bytes (`Content-Type: application/wasm`, other fields as query parameters:
 * `description`, `tool` as JSON text) or JSON with `wasm_base64` (and an optional `sha256` to verify). The module
 * is admitted by the sandbox policy at upload; a refusal answers 400 wasm_rejected.
 */
import express, { type Request, type RequestHandler } from 'express';
import { hasUnstorableText, isStorableText, MuleError, parseDefinition, parseWith, SHA256_PATTERN, wasmToolSchema } from '@mule/core';
import { getModule } from '@mule/db';
import { z } from 'zod';
import type { ApiContext } from '../api-context.js';
import { applyModule, type DefinitionContext } from '../definitions-service.js';
import { sendError } from '../http-errors.js';
import { keepingContext } from '../request-context.js';
import { definitionBody, nameParam, putStatus, views } from './definition-http.js';

const RAW_TYPES = ['application/wasm', 'application/octet-stream'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const rawQuerySchema = z.strictObject({
  description: z.string().max(4000).optional(),
  tool: z.string().max(100_000).optional(),
});

function isRawUpload(req: Request): boolean {
  return RAW_TYPES.some((type) => req.is(type) === type);
}

function fromRaw(req: Request, name: string) {
  const query = parseWith(rawQuerySchema, req.query);
  if (hasUnstorableText(query)) throw new MuleError('invalid_request', 'query parameters must not contain NUL characters or unpaired surrogates');
  let tool: unknown;
  if (query.tool !== undefined) {
    try {
      tool = JSON.parse(query.tool);
    } catch {
      throw new MuleError('invalid_request', 'tool must be JSON text', { param: 'tool' });
    }
    tool = parseWith(wasmToolSchema, tool, 'tool');
    if (hasUnstorableText(tool)) throw new MuleError('invalid_request', 'tool must not contain NUL characters or unpaired surrogates', { param: 'tool' });
  }
  const definition = parseDefinition('wasm_module', { name, description: query.description, tool });
  const bytes = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array();
  return { definition, bytes, sha256: undefined };
}

function fromJson(req: Request, name: string) {
  const body = definitionBody(req, name);
  // This route parses its own JSON (a larger limit), so app.ts's check of request bodies does not see it.
  const unstorable = Object.entries(body).find(([field, value]) => hasUnstorableText(field) || hasUnstorableText(value));
  if (unstorable) {
    throw new MuleError('invalid_request', 'strings in the JSON body must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates', {
      param: isStorableText(unstorable[0]) ? unstorable[0] : null,
    });
  }
  const sha256 = body['sha256'];
  delete body['sha256'];
  if (sha256 !== undefined && (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256))) {
    throw new MuleError('invalid_request', 'sha256 must be 64 lower-case hex characters', { param: 'sha256' });
  }
  const definition = parseDefinition('wasm_module', body);
  if (definition.path !== undefined) {
    throw new MuleError('invalid_request', 'path is for definition files; upload the bytes as wasm_base64 or application/wasm', {
      param: 'path',
    });
  }
  const base64 = definition.wasm_base64?.replace(/\s+/g, '');
  if (!base64) throw new MuleError('invalid_request', 'wasm_base64 is required (or upload with Content-Type: application/wasm)', { param: 'wasm_base64' });
  if (!BASE64.test(base64) || base64.length % 4 === 1) {
    throw new MuleError('invalid_request', 'wasm_base64 is not valid base64', { param: 'wasm_base64' });
  }
  return { definition, bytes: new Uint8Array(Buffer.from(base64, 'base64')), sha256: sha256 as string | undefined };
}

export function moduleUploadHandler(ctx: ApiContext, defs: DefinitionContext): RequestHandler[] {
  const maxModuleBytes = ctx.config.MULE_WASM_MAX_MODULE_MB * 1024 * 1024;
  const raw = keepingContext(express.raw({ type: RAW_TYPES, limit: maxModuleBytes }));
  // base64 is 4/3 of the bytes, plus room for the other fields.
  const json = keepingContext(express.json({ limit: Math.ceil((maxModuleBytes * 4) / 3) + 256 * 1024 }));
  const parse: RequestHandler = (req, res, next) => {
    const parser = isRawUpload(req) ? raw : json;
    parser(req, res, (error?: unknown) => {
      if (error && (error as { type?: string }).type === 'entity.too.large') {
        sendError(res, new MuleError('payload_too_large', `the module is larger than MULE_WASM_MAX_MODULE_MB (${ctx.config.MULE_WASM_MAX_MODULE_MB} MB)`));
        return;
      }
      next(error);
    });
  };
  const handle: RequestHandler = async (req, res) => {
    const name = nameParam(req);
    const upload = isRawUpload(req) ? fromRaw(req, name) : fromJson(req, name);
    const { definition, bytes, sha256 } = upload;
    try {
      const { outcome } = await applyModule(defs, { name, description: definition.description, tool: definition.tool }, bytes, sha256);
      if (outcome !== 'unchanged') ctx.definitionsChanged();
      res.status(putStatus(outcome)).json(views.wasm_module((await getModule(ctx.prisma, name))!));
    } catch (error) {
      if (error instanceof MuleError && error.code === 'wasm_rejected') {
        sendError(res, error, 400);
        return;
      }
      throw error;
    }
  };
  return [parse, handle];
}
