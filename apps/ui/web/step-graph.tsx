/**
 * A graph of steps drawn by React Flow (@xyflow/react) at the places ELK gives them (graph-layout.ts): one node per
 * step, coloured by status and saying it in text, one arrow per `needs`. Clicking a node selects its step. It lays
 * out left to right, and top to bottom on a phone, where a wide graph would shrink past reading.
 */
import '@xyflow/react/dist/style.css';
import { BaseEdge, Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type EdgeProps, type Node, type NodeProps } from '@xyflow/react';
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { StepView } from './api.js';
import { graphEdges, layoutGraph, NODE_HEIGHT, NODE_WIDTH, type Direction, type GraphStep, type Layout, type Point } from './graph-layout.js';
import { stepStatus } from './step-status.js';

/** The phone breakpoint of styles.css. */
const NARROW = '(max-width: 640px)';
/** The frame grows with the graph up to this height; past it the graph is zoomed out to fit (and can be zoomed in). */
const MAX_HEIGHT = 460;
/** Room around the graph in the frame, in pixels; the bottom keeps the zoom buttons off the nodes. */
const FIT_PADDING = { top: 8, bottom: 44 };

type StepNodeData = { step: GraphStep; status: string; chosen: boolean; selectable: boolean };
type StepNode = Node<StepNodeData, 'step'>;

function StepNodeView({ data, sourcePosition, targetPosition }: NodeProps<StepNode>) {
  const { step, status, chosen, selectable } = data;
  const label = `${step.id} (${step.type}): ${status}`;
  const className = `flow-node node-${status}${chosen ? ' selected' : ''}`;
  const text = (
    <>
      <span className="flow-node-id">{step.id}</span>
      <span className="flow-node-status">
        {step.type} · {status}
      </span>
    </>
  );
  return (
    <>
      <Handle type="target" position={targetPosition ?? Position.Left} isConnectable={false} />
      {selectable ? (
        // The click (a keyboard's Enter or Space included) reaches StepGraph's onNodeClick through the node.
        <button type="button" className={className} title={label} aria-label={label} aria-pressed={chosen}>
          {text}
        </button>
      ) : (
        <div className={className} title={label}>
          {text}
        </div>
      )}
      <Handle type="source" position={sourcePosition ?? Position.Right} isConnectable={false} />
    </>
  );
}

type RoutedEdge = Edge<{ points: Point[] }, 'routed'>;

/** A polyline through ELK's points with its corners rounded (radius up to 6, less on short segments). */
function roundedPath(points: Point[]): string {
  let path = `M${points[0]!.x},${points[0]!.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const [before, at, after] = [points[i - 1]!, points[i]!, points[i + 1]!];
    const r = Math.min(6, Math.hypot(at.x - before.x, at.y - before.y) / 2, Math.hypot(after.x - at.x, after.y - at.y) / 2);
    const toward = (from: Point, to: Point) => {
      const length = Math.hypot(to.x - from.x, to.y - from.y) || 1;
      return { x: from.x + ((to.x - from.x) / length) * r, y: from.y + ((to.y - from.y) / length) * r };
    };
    const entry = toward(at, before);
    const exit = toward(at, after);
    path += ` L${entry.x},${entry.y} Q${at.x},${at.y} ${exit.x},${exit.y}`;
  }
  const last = points[points.length - 1]!;
  return `${path} L${last.x},${last.y}`;
}

/** An edge along the route ELK gave it (around nodes, not through them); a straight line if it gave none. */
function RoutedEdgeView({ data, sourceX, sourceY, targetX, targetY, markerEnd }: EdgeProps<RoutedEdge>) {
  const points = data && data.points.length >= 2 ? data.points : [{ x: sourceX, y: sourceY }, { x: targetX, y: targetY }];
  return <BaseEdge path={roundedPath(points)} markerEnd={markerEnd} />;
}

/** Outside the component: React Flow warns when it gets new nodeTypes or edgeTypes objects on a render. */
const NODE_TYPES = { step: StepNodeView };
const EDGE_TYPES = { routed: RoutedEdgeView };

function useNarrow(): boolean {
  return useSyncExternalStore(
    (changed) => {
      const query = matchMedia(NARROW);
      query.addEventListener('change', changed);
      return () => query.removeEventListener('change', changed);
    },
    () => matchMedia(NARROW).matches,
  );
}

export function StepGraph({ graph, steps, selected, onSelect }: { graph: GraphStep[]; steps?: StepView[]; selected?: string | null; onSelect?: (id: string) => void }) {
  const direction: Direction = useNarrow() ? 'DOWN' : 'RIGHT';
  // Statuses change on every refresh of a running job; the places change only with the graph itself.
  const key = useMemo(() => `${direction}:${JSON.stringify(graph)}`, [direction, graph]);
  const [layout, setLayout] = useState<{ key: string; layout: Layout } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    setProblem(null);
    layoutGraph(graph, direction).then(
      (placed) => current && setLayout({ key, layout: placed }),
      (error: Error) => current && setProblem(`The graph could not be laid out: ${error.message}`),
    );
    return () => {
      current = false;
    };
    // `key` stands for graph and direction: a new graph object with the same steps keeps its layout.
  }, [key]);

  const placed = layout?.key === key ? layout.layout : null;
  const nodes = useMemo<StepNode[]>(() => {
    if (!placed) return [];
    return graph.map((step) => ({
      id: step.id,
      type: 'step',
      position: placed.positions.get(step.id) ?? { x: 0, y: 0 },
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      sourcePosition: direction === 'RIGHT' ? Position.Right : Position.Bottom,
      targetPosition: direction === 'RIGHT' ? Position.Left : Position.Top,
      data: { step, status: steps ? stepStatus(steps, step.id) : 'defined', chosen: selected === step.id, selectable: onSelect !== undefined },
    }));
  }, [placed, graph, steps, selected, onSelect, direction]);
  const edges = useMemo<RoutedEdge[]>(
    () =>
      graphEdges(graph).map(({ id, source, target }) => ({
        id,
        source,
        target,
        type: 'routed',
        data: { points: placed?.routes.get(id) ?? [] },
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: 'var(--muted)' },
      })),
    [graph, placed],
  );

  if (graph.length === 0) return <p className="muted">This graph has no steps to show.</p>;
  if (problem) return <p role="alert" className="notice">{problem}</p>;
  const height = placed ? Math.min(MAX_HEIGHT, Math.max(120, placed.height + FIT_PADDING.top + FIT_PADDING.bottom)) : 120;
  return (
    <div className={`graph-frame graph-${direction.toLowerCase()}`} style={{ height }} aria-label={`Graph of ${graph.length} steps`} role="figure">
      {placed ? (
        <ReactFlow
          key={key}
          nodes={nodes}
          edges={edges}
          nodeTypes={NODE_TYPES}
          edgeTypes={EDGE_TYPES}
          // React Flow lets a node take pointer events only when something listens to them.
          onNodeClick={onSelect ? (_event, node) => onSelect(node.id) : undefined}
          colorMode="system"
          fitView
          fitViewOptions={{ padding: { top: `${FIT_PADDING.top}px`, bottom: `${FIT_PADDING.bottom}px`, x: '12px' }, maxZoom: 1 }}
          minZoom={0.15}
          maxZoom={2}
          nodesDraggable={false}
          nodesConnectable={false}
          nodesFocusable={false}
          edgesFocusable={false}
          elementsSelectable={false}
          zoomOnScroll={false}
          zoomOnDoubleClick={false}
          preventScrolling={false}
        >
          <Controls showInteractive={false} position="bottom-left" orientation="horizontal" />
        </ReactFlow>
      ) : (
        <p className="muted pad">Laying out the graph…</p>
      )}
    </div>
  );
}
