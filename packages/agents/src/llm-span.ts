/**
 * One span per provider call with the OpenTelemetry GenAI attributes: ADK's own `call_llm` span names its framework
 * (`gen_ai.system: gcp.vertex.agent`), not the provider the call went to. Prompts and answers go in only when
 * MULE_LOG_CONTENT=true; without tracing the span is the no-op one.
 */
import { SpanKind, SpanStatusCode, tracer, tracingContentAllowed } from '@mule/observability';
import type { ProviderConfig } from './run-request.js';

export interface LlmSpan {
  /** Records what the call returned (token counts, the provider's finish reason, the answer's text). */
  answered(usage: { input: number; output: number } | null, finishReason: string | null | undefined, text: string): void;
  failed(code: string, message: string): void;
  end(): void;
}

export function startLlmSpan(provider: ProviderConfig, providerName: 'openai' | 'gcp.gemini', model: string, serverUrl: string, input: () => unknown): LlmSpan {
  const content = tracingContentAllowed();
  const span = tracer.startSpan(`chat ${model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': providerName,
      'gen_ai.request.model': model,
      'server.address': new URL(serverUrl).hostname,
      'mule.provider': provider.name,
      ...(content ? { 'gen_ai.input.messages': JSON.stringify(input()) } : {}),
    },
  });
  return {
    answered(usage, finishReason, text) {
      if (usage) span.setAttributes({ 'gen_ai.usage.input_tokens': usage.input, 'gen_ai.usage.output_tokens': usage.output });
      if (finishReason) span.setAttribute('gen_ai.response.finish_reasons', [finishReason.toLowerCase()]);
      if (content) span.setAttribute('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', content: text }]));
    },
    failed(code, message) {
      span.setAttribute('error.type', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    },
    end: () => span.end(),
  };
}
