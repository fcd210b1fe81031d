"""Self-test of the fake Slack's per-channel post limit, driven by the real slack_sdk client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.limit_posts_per_channel(interval=1.0)
        yield fake


def client_for(slack: FakeSlack, **kwargs: Any) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.base_url, **kwargs)


def test_a_second_post_in_a_channel_within_the_interval_is_answered_429(slack: FakeSlack) -> None:
    client = client_for(slack)
    assert client.chat_postMessage(channel="C1", text="one")["ok"]
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="two")
    answer = err.value.response
    assert (answer.status_code, answer["error"], answer.headers["Retry-After"]) == (
        429,
        "ratelimited",
        "1",
    )
    assert [m["text"] for m in slack.messages("C1")] == ["one"]  # the refused one is not kept
    # Other channels have their own pace; a DM by user id counts in its DM channel.
    assert client.chat_postMessage(channel="C2", text="elsewhere")["ok"]
    assert client.chat_postMessage(channel="U1", text="to U1")["channel"] == "DU1"
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="DU1", text="again")


def test_a_client_that_waits_out_retry_after_gets_its_post_in(slack: FakeSlack) -> None:
    client = client_for(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    client.chat_postMessage(channel="C1", text="one")
    assert client.chat_postMessage(channel="C1", text="two")["ok"]
    first, refused, accepted = slack.calls_to("chat.postMessage")
    assert (first.status, refused.status, accepted.status) == (200, 429, 200)
    assert accepted.time - first.time >= 1.0


def test_the_limit_can_be_lifted(slack: FakeSlack) -> None:
    slack.limit_posts_per_channel(None)
    client = client_for(slack)
    assert all(client.chat_postMessage(channel="C1", text=str(i))["ok"] for i in range(3))
