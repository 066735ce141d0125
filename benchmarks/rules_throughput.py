"""Ingest throughput with the starter rule set against without rules, same stream, same run.

Like ``ingest_throughput.py``: the simulator publishes a seeded stretch of the town through
a private Mosquitto at QoS 1 into the offline persistent session of ``aqkol ingest``, which
then drains it into SQLite as fast as it can. That is done twice per round with the same
seed: once with an empty rules folder, once with ``rules/`` (the starter rules: crowds,
weapons, three watch lists, gas leak, bus delay, cold home, camera offline). Rounds
alternate the order. Prints each rate, and last line e.g.
``rules_ratio=0.91 with_rules_per_s=... without_per_s=... lost=0 duplicated=0``
(rules_ratio = with / without, the medians over rounds; the goal is at least 0.75).

    python benchmarks/rules_throughput.py [--hours 4.0] [--seed 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_throughput import ingest_phase  # noqa: E402

from tests.support import start_mosquitto, stop  # noqa: E402


def phase(
    port: int, work: Path, rules_dir: Path, seed: int, hours: float
) -> tuple[float, int, int]:
    work.mkdir(parents=True)
    prefix = f"bench{uuid.uuid4().hex[:6]}/"
    db_url = f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "AQKOL_MQTT_PREFIX": prefix,
        "AQKOL_DATABASE_URL": db_url,
        "AQKOL_RUNS_DIR": str(work),
        "AQKOL_VAR_DIR": str(work),
        "AQKOL_INGEST_CLIENT_ID": f"ingest-{prefix.strip('/')}",
        "AQKOL_RULES_DIR": str(rules_dir),
    }
    rate, _stored, lost, dup = ingest_phase(env, seed, hours, work, db_url)
    return rate, lost, dup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=4.0, help="simulated hours to publish")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"without": [], "with": []}
    lost = dup = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        empty = work / "no-rules"
        empty.mkdir()
        broker, port = start_mosquitto(work)
        try:
            for n in range(args.rounds):
                order = ["without", "with"] if n % 2 == 0 else ["with", "without"]
                for name in order:
                    folder = ROOT / "rules" if name == "with" else empty
                    rate, lo, du = phase(port, work / f"{name}-{n}", folder, args.seed, args.hours)
                    lost += lo
                    dup += du
                    rates[name].append(rate)
                    print(f"round {n + 1} {name:>7} rules: {rate:,.0f} events/s stored")
        finally:
            stop(broker)
    with_r = statistics.median(rates["with"])
    without_r = statistics.median(rates["without"])
    print(
        f"rules_ratio={with_r / without_r:.2f} with_rules_per_s={with_r:.0f} "
        f"without_per_s={without_r:.0f} lost={lost} duplicated={dup}"
    )


if __name__ == "__main__":
    main()
