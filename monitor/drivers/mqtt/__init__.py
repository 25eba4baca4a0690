"""MQTT: subscriptions on one broker session, payload mappings compiled at start."""

from .client import BatchingClient
from .driver import MqttDriver, default_client_id
from .mapping import TopicDecoder, TopicRouter

__all__ = ["BatchingClient", "MqttDriver", "TopicDecoder", "TopicRouter", "default_client_id"]
