"""The Kafka agents: planner, connector and aggregator. A worker runs any of them."""

from streams.runtime.agents.agent import Agent, AgentContext
from streams.runtime.agents.aggregator_agent import AggregatorAgent
from streams.runtime.agents.connector_agent import ConnectorAgent
from streams.runtime.agents.planner_agent import PlannerAgent

__all__ = ["Agent", "AgentContext", "AggregatorAgent", "ConnectorAgent", "PlannerAgent"]
