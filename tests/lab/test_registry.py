"""evaluate() is a loop over registered measures: each declares its inputs, and gets them."""

from __future__ import annotations

import pytest

from services.lab import registry
from services.lab.evaluate import evaluate
from services.policy.active import PolicyBook


@pytest.fixture
def fresh_registry(monkeypatch):
    registry.measures()  # every shipped module registered first, into the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_an_input_evaluate_does_not_prepare_is_refused_at_registration(fresh_registry):
    with pytest.raises(ValueError, match="unknown inputs \\['frames'\\]"):
        registry.register("bad", ("bad_share",), inputs=("frames",))  # type: ignore[arg-type]


def test_each_measure_gets_the_inputs_it_declares_and_only_those(fresh_registry, tiny_day):
    seen: dict[str, tuple[set[str], bool]] = {}

    def spy(group):
        def measure(ctx):
            seen[group] = (set(ctx.frames), ctx.alert_scores is not None)
            ctx.put(f"{group}_rows", len(ctx.kept))

        return measure

    registry.register("plain", ("plain_rows",))(spy("plain"))
    rows = evaluate(tiny_day, PolicyBook().spec("gdpr-minimal"), metrics=("plain",))
    assert seen["plain"] == (set(), False)
    assert rows == [{"metric": "plain_rows", "value": 0.0}]

    registry.register("on_kept", ("on_kept_rows",), inputs=("kept",))(spy("on_kept"))
    rows = evaluate(tiny_day, PolicyBook().spec("gdpr-minimal"), metrics=("on_kept",))
    assert "gas.reading" in seen["on_kept"][0] and not seen["on_kept"][1]
    assert rows[0]["value"] > 0


def test_every_shipped_measure_declares_known_inputs_and_its_metric_names():
    for group, m in registry.measures().items():
        assert m.inputs <= registry.INPUTS, group
        assert m.names and len(set(m.names)) == len(m.names), group
