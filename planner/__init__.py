"""graphfetch's planner: pure logic, no I/O.

Config models and loading, the expression language, request-time graphs and the
per-request state machine that both runtimes drive.
"""

from planner.adaptive import AdaptivePolicy, resolve_policy
from planner.config import Adaptive, Cache, Defaults, KeySpec, Node, Output, PipelineConfig, Source
from planner.errors import ConfigError, GraphfetchError, Problem, RequestError, RequestErrorCode
from planner.expressions import Expression, ExpressionError, RenderError, Template
from planner.graph import GraphShape, Plan, graph_shape, plan_request
from planner.loading import (
    config_files,
    config_version,
    load_pipelines,
    load_pipelines_reporting,
    parse_pipeline,
)
from planner.pipeline import CompiledNode, Escape, Pipeline, compile_pipeline
from planner.profile import SCHEMA_VERSION, ErrorKind, Lineage, NodeError, Profile, Status, Timing
from planner.schema import pipeline_json_schema, pipeline_json_schema_text
from planner.state import (
    Emission,
    Failure,
    NodeState,
    Outcome,
    RequestState,
    Step,
    Task,
    task_id_for,
)

__all__ = [
    "SCHEMA_VERSION",
    "Adaptive",
    "AdaptivePolicy",
    "Cache",
    "CompiledNode",
    "ConfigError",
    "Defaults",
    "Emission",
    "ErrorKind",
    "Escape",
    "Expression",
    "ExpressionError",
    "Failure",
    "GraphShape",
    "GraphfetchError",
    "KeySpec",
    "Lineage",
    "Node",
    "NodeError",
    "NodeState",
    "Outcome",
    "Output",
    "Pipeline",
    "PipelineConfig",
    "Plan",
    "Problem",
    "Profile",
    "RenderError",
    "RequestError",
    "RequestErrorCode",
    "RequestState",
    "Source",
    "Status",
    "Step",
    "Task",
    "Template",
    "Timing",
    "compile_pipeline",
    "config_files",
    "config_version",
    "graph_shape",
    "load_pipelines",
    "load_pipelines_reporting",
    "parse_pipeline",
    "pipeline_json_schema",
    "pipeline_json_schema_text",
    "plan_request",
    "resolve_policy",
    "task_id_for",
]
