/**
 * Places a graph's steps with ELK's layered algorithm (elkjs): layers follow `needs`, crossings are minimised.
 * The bundled build runs ELK on the page's own thread (its "fake worker"), so no worker script is fetched, and it
 * is imported on first use: the 1.6 MB layout engine is its own chunk, loaded only by pages that draw a graph.
 */
import type { ELK as Elk, ElkNode } from 'elkjs/lib/elk-api.js';

export interface GraphStep {
  id: string;
  type: string;
  needs: string[];
}

export type Direction = 'RIGHT' | 'DOWN';

export interface Point {
  x: number;
  y: number;
}

export interface Layout {
  positions: Map<string, Point>;
  /** Each edge (`need>step`) as ELK routed it: around the nodes, never through one. */
  routes: Map<string, Point[]>;
  width: number;
  height: number;
}

export const NODE_WIDTH = 172;
export const NODE_HEIGHT = 50;

let engine: Promise<Elk> | null = null;

function elk(): Promise<Elk> {
  engine ??= import('elkjs/lib/elk.bundled.js').then(({ default: ELK }) => new ELK({ algorithms: ['layered'] }));
  return engine;
}

/** Edges only between steps the graph has: a need naming anything else is not drawn (the api refuses such graphs). */
export function graphEdges(graph: GraphStep[]): { id: string; source: string; target: string }[] {
  const known = new Set(graph.map((step) => step.id));
  return graph.flatMap((step) =>
    step.needs.filter((need) => known.has(need)).map((need) => ({ id: `${need}>${step.id}`, source: need, target: step.id })),
  );
}

export async function layoutGraph(graph: GraphStep[], direction: Direction): Promise<Layout> {
  const root: ElkNode = {
    id: 'graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': direction,
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '18',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
      'elk.edgeRouting': 'ORTHOGONAL',
    },
    children: graph.map((step) => ({ id: step.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: graphEdges(graph).map(({ id, source, target }) => ({ id, sources: [source], targets: [target] })),
  };
  const result = await (await elk()).layout(root);
  const positions = new Map((result.children ?? []).map((node) => [node.id, { x: node.x ?? 0, y: node.y ?? 0 }]));
  const routes = new Map(
    (result.edges ?? []).map((edge) => [
      edge.id,
      (edge.sections ?? []).flatMap((section) => [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]),
    ]),
  );
  return { positions, routes, width: result.width ?? 0, height: result.height ?? 0 };
}
