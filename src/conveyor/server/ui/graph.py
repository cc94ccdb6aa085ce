"""The job graph's layout: jobs in columns by how deep they sit in the ``needs`` graph."""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.server.runs.models import Job
from conveyor.server.ui.pipeline import combined_status

NODE_WIDTH = 180
NODE_HEIGHT = 44
COLUMN_GAP = 48
ROW_GAP = 16


@dataclass
class Node:
    job_id: str
    name: str
    status: str
    column: int
    row: int = 0
    instances: int = 1
    anchor: str = ""

    @property
    def x(self) -> int:
        return self.column * (NODE_WIDTH + COLUMN_GAP)

    @property
    def y(self) -> int:
        return self.row * (NODE_HEIGHT + ROW_GAP)


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[Node, Node]] = field(default_factory=list)
    width: int = 0
    height: int = 0
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT

    @property
    def min_width(self) -> int:
        """Narrower than this the names get too small to read: scroll instead."""
        return int(self.width * 0.7)

    def edge_paths(self) -> list[dict[str, object]]:
        """SVG cubic curves from the right edge of a needed job to the left edge of its user."""
        paths = []
        for source, target in self.edges:
            x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
            x2, y2 = target.x, target.y + NODE_HEIGHT // 2
            middle = (x1 + x2) // 2
            paths.append(
                {
                    "d": f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}",
                    "status": source.status,
                }
            )
        return paths


def job_graph(jobs: list[Job]) -> Graph:
    """Lay out one node per job id (matrix instances merged) with an edge per ``needs``."""
    by_id: dict[str, list[Job]] = {}
    for job in jobs:
        by_id.setdefault(job.job_id, []).append(job)
    depth: dict[str, int] = {}

    def depth_of(job_id: str, seen: frozenset[str] = frozenset()) -> int:
        if job_id in depth:
            return depth[job_id]
        needs = [
            need for need in by_id[job_id][0].needs or [] if need in by_id and need not in seen
        ]
        value = 1 + max((depth_of(need, seen | {job_id}) for need in needs), default=-1)
        depth[job_id] = value
        return value

    graph = Graph()
    nodes: dict[str, Node] = {}
    rows_used: dict[int, int] = {}
    for job_id, instances in by_id.items():
        column = depth_of(job_id)
        node = Node(
            job_id=job_id,
            name=_node_name(job_id, instances),
            status=combined_status([job.status for job in instances]),
            column=column,
            row=rows_used.get(column, 0),
            instances=len(instances),
            anchor=f"job-{instances[0].pk}",
        )
        rows_used[column] = node.row + 1
        nodes[job_id] = node
        graph.nodes.append(node)
    for job_id, instances in by_id.items():
        for need in instances[0].needs or []:
            if need in nodes:
                graph.edges.append((nodes[need], nodes[job_id]))
    columns = max(rows_used, default=-1) + 1
    rows = max(rows_used.values(), default=0)
    graph.width = max(columns * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP, 0)
    graph.height = max(rows * (NODE_HEIGHT + ROW_GAP) - ROW_GAP, 0)
    return graph


def _node_name(job_id: str, instances: list[Job]) -> str:
    """The job's name without matrix values; for the jobs of a called workflow
    (``caller / job``), the caller's."""
    first = instances[0]
    name = first.name or job_id
    called = first.job_key.startswith((f"{job_id} / ", f"{job_id} (")) and " / " in first.job_key
    if called:
        name = name.split(" / ", 1)[0]
    if len(instances) > 1:
        name = name.split(" (", 1)[0]
    return name
