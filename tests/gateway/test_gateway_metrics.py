"""The router updates the gateway's Prometheus metrics."""

from __future__ import annotations

from fake_upstream import HELLO, FakeUpstream, GatewayFactory, Reply, collect, text_stream, unique
from prometheus_client import REGISTRY

from gateway import ChatRequest, Message


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_fallback_counts_the_error_the_fallback_and_the_success(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    broken, spare = unique(), unique()
    fake.script(broken, Reply(503, {}, [b"{}"]))
    fake.script(spare, Reply(parts=text_stream(["ok"])))
    alias = unique("alias")
    gateway = make_gateway({alias: [f"fake/{broken}", f"fake/{spare}"]}, max_retries=1)
    await collect(gateway.stream(HELLO))
    assert sample("reactor_gateway_fallbacks_total", alias=alias) == 1
    assert sample("reactor_gateway_retries_total", target=f"fake/{broken}") == 1
    outcomes = {"target": f"fake/{broken}", "outcome": "error"}
    assert sample("reactor_gateway_provider_requests_total", **outcomes) == 2
    ok = {"target": f"fake/{spare}", "outcome": "ok"}
    assert sample("reactor_gateway_provider_requests_total", **ok) == 1
    assert sample("reactor_gateway_tokens_total", target=f"fake/{spare}", direction="out") == 3
    ttft = "reactor_gateway_time_to_first_token_seconds_count"
    assert sample(ttft, target=f"fake/{spare}") == 1


async def test_raw_targets_share_one_label_per_provider(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["ok"])))
    before = sample("reactor_gateway_provider_requests_total", target="fake/other", outcome="ok")
    request = ChatRequest(messages=[Message("user", "hi")], model=f"fake/{model}")
    await collect(make_gateway(allow_any_target=True).stream(request))
    after = sample("reactor_gateway_provider_requests_total", target="fake/other", outcome="ok")
    assert after == before + 1
