"""The Kafka agents: planner, connector and aggregator. A worker runs any of them."""

from streams.runtime.agents.aggregator import AggregatorAgent
from streams.runtime.agents.base import Agent, AgentContext
from streams.runtime.agents.connector import ConnectorAgent
from streams.runtime.agents.planner import PlannerAgent

__all__ = ["Agent", "AgentContext", "AggregatorAgent", "ConnectorAgent", "PlannerAgent"]
