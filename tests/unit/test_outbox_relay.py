"""How the outbox relay tells a broker outage from a bad message (actors/outbox_relay.py)."""

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from actors.outbox_relay import is_outage


@pytest.mark.parametrize("error", [KafkaConnectionError(), asyncio.TimeoutError()])
def test_an_unreachable_broker_is_an_outage(error):
    assert is_outage(error)


@pytest.mark.parametrize("error", [MessageSizeTooLargeError(), ValueError()])
def test_a_bad_message_is_not_an_outage(error):
    assert not is_outage(error)
