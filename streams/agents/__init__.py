"""The Kafka agents: planner, connector and aggregator. A worker runs any of them."""

from streams.agents.aggregator import AggregatorAgent
from streams.agents.base import Agent, AgentContext
from streams.agents.connector import ConnectorAgent
from streams.agents.planner import PlannerAgent

__all__ = ["Agent", "AgentContext", "AggregatorAgent", "ConnectorAgent", "PlannerAgent"]
