"""MQTT device simulators (publishing what the profiles describe) and a load publisher."""

from .flood import FloodResult, flood
from .payloads import build_payload, plan_topics
from .simulator import MqttDevice, MqttSimulator, mqtt_device

__all__ = [
    "FloodResult", "MqttDevice", "MqttSimulator", "build_payload", "flood", "mqtt_device",
    "plan_topics",
]
