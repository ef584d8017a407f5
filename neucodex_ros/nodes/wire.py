"""Helpers between the nodes and the messages: field limits, model ids, taking a backlog."""

from __future__ import annotations

from typing import Any


def saturated_uint32(value: int) -> int:
    """A count for a uint32 message field: capped at its largest value rather than raising."""
    return min(value, 2**32 - 1)


def model_fingerprint(model_id: str) -> int:
    """A checkpoint's model id (16 hex digits) as PackedSpikes.model_id carries it."""
    return int(model_id, 16)


def take_waiting(subscription: Any) -> list[tuple[Any, bytes]]:
    """Every message waiting in a subscription's history, taken now, with its writer's GID.

    rclpy's executor takes one message per subscription per wait; a node that must see the
    whole backlog at once (to serve its sources in turn) takes the rest itself, as the
    executor does.
    """
    messages = []
    with subscription.handle:
        while (taken := subscription.handle.take_message(subscription.msg_type,
                                                         subscription.raw)) is not None:
            messages.append((taken[0], bytes(taken[1]['publisher_gid']['data'])))
    return messages
