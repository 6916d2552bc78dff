/**
 * What tracing costs async throughput: the same async run as the tracing-off figure, with the api and the workers
 * exporting every span (OTLP/HTTP, protobuf, the default protocol) to a receiver in this process that only answers
 * 200. The receiver does no work, so the figure is Mule's side of the cost: creating, batching, encoding and
 * sending spans, plus storing and reading each job's trace context.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { alternate, compare, type Comparison } from './alternating.js';
import type { Throughput } from './async-throughput.js';

export interface OtlpSink {
  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string;
  /** Export requests received on /v1/traces. */
  requests: number;
  /** Bytes received on /v1/traces. */
  bytes: number;
  close(): Promise<void>;
}

/** An OTLP/HTTP trace receiver that reads each export and answers 200 with an empty protobuf response. */
export async function startOtlpSink(): Promise<OtlpSink> {
  const sink: OtlpSink = { url: '', requests: 0, bytes: 0, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const traces = req.method === 'POST' && req.url === '/v1/traces';
    req.on('data', (chunk: Buffer) => {
      if (traces) sink.bytes += chunk.length;
    });
    req.on('end', () => {
      if (!traces) {
        res.writeHead(404).end();
        return;
      }
      sink.requests++;
      // An empty ExportTraceServiceResponse: zero bytes of protobuf.
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return sink;
}

/** The environment that turns tracing on in the api and the workers, exporting to `sink`. */
export function tracingEnv(sink: OtlpSink): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
}

/** Runs with tracing off and on, alternating (alternating.ts), and what the on runs exported. */
export interface TracingCost extends Comparison {
  export_requests: number;
  exported_bytes: number;
}

/**
 * Runs `measure` with tracing off and on, alternating (alternating.ts), the on runs exporting to a fresh sink, and
 * compares the means. Fails if nothing was exported: a figure from a run that did not trace would say tracing is free.
 */
export async function measureTracingCost(measure: (env: Record<string, string>) => Promise<Throughput>): Promise<TracingCost> {
  const sink = await startOtlpSink();
  try {
    const runs = await alternate(() => measure({}), () => measure(tracingEnv(sink)));
    if (sink.requests === 0) throw new Error('tracing on, but no span reached the OTLP receiver');
    return {
      ...compare(runs),
      export_requests: sink.requests,
      exported_bytes: sink.bytes,
    };
  } finally {
    await sink.close();
  }
}
