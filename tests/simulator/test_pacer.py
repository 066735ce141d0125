"""The publish loop's state machine, one transition at a time, on a clock the test moves
(the loop around it, over a real broker, is tests/simulator/test_publisher.py and
test_classroom_control.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator.publisher import JUMP_SPEED, Pacer


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _pacer(speed: float | None) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(speed, clock), clock


def test_running_paces_simulated_time_at_its_speed_from_the_first_event():
    p, clock = _pacer(60)
    assert p.state == "running"
    assert p.due_in(0.0) == 0.0  # the first event goes at once: pacing starts there
    assert p.due_in(60.0) == pytest.approx(1.0)  # a simulated minute is a second at 60x
    clock.t += 0.25
    assert p.due_in(60.0) == pytest.approx(0.75)
    clock.t += 5
    assert p.due_in(60.0) == 0.0  # late events go at once, never a negative wait


def test_flat_out_never_waits():
    p, _ = _pacer(None)
    assert p.due_in(0.0) == 0.0 and p.due_in(86_400.0) == 0.0


def test_pause_holds_every_event_until_resume_which_paces_on_from_there():
    p, clock = _pacer(60)
    p.due_in(0.0)
    p.pause(30.0)
    assert p.state == "paused"
    assert p.due_in(30.0) is None
    clock.t += 100  # a long pause does not make the town rush afterwards
    p.resume(30.0)
    assert p.state == "running"
    assert p.due_in(30.0) == 0.0
    assert p.due_in(90.0) == pytest.approx(1.0)


def test_a_new_speed_paces_from_the_event_it_reaches():
    p, clock = _pacer(60)
    p.due_in(0.0)
    clock.t += 0.5
    p.set_speed(600, 30.0)
    assert p.due_in(30.0) == 0.0
    assert p.due_in(90.0) == pytest.approx(0.1)
    p.set_speed(None, 90.0)
    assert p.due_in(10_000.0) == 0.0


def test_a_jump_fast_forwards_through_a_pause_and_arrives_at_its_time():
    p, _ = _pacer(60)
    p.due_in(0.0)
    p.pause(0.0)
    to = datetime.fromtimestamp(3600, UTC)
    p.jump(to, 0.0)
    assert p.state == "jumping" and p.jump_iso == to.isoformat()
    assert p.due_in(JUMP_SPEED) == pytest.approx(1.0)  # at the jump's pace, paused or not
    assert p.arrive(3599.0) is None
    ack = p.arrive(3600.0)
    assert ack == {"command": "jump", "state": "jumped", "to": to.isoformat()}
    assert p.jump_to is None and p.state == "paused"  # back where it was
    assert p.due_in(3600.0) is None
    p.resume(3600.0)
    assert p.due_in(3660.0) == pytest.approx(1.0)  # at its own speed again


def test_a_jump_goes_faster_than_a_slow_town_never_slower_than_a_fast_one():
    p, _ = _pacer(1200)
    p.due_in(0.0)
    p.jump(datetime.fromtimestamp(10_000, UTC), 0.0)
    assert p.due_in(1200.0) == pytest.approx(1.0)  # max(speed, JUMP_SPEED)
    p.set_speed(None, 0.0)
    assert p.due_in(5000.0) == 0.0  # flat out already: a jump is just a wait of nothing


def test_arrive_without_a_jump_is_nothing():
    p, _ = _pacer(60)
    assert p.arrive(1e12) is None
    assert p.state == "running"
