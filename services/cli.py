"""The ``aqkol`` command: run the demo, or each service alone."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.panel import Panel

from services.auth.cli import demo_accounts, users_app
from services.config import Settings
from services.lab.cli import lab_app
from services.policy.cli import policy_app
from services.supervisor import Supervisor, SupervisorError

app = typer.Typer(
    help="Aqkol sandbox: a simulated smart-city command center.", no_args_is_help=True
)
events_app = typer.Typer(help="The event contract.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(db_app, name="db")
rules_app = typer.Typer(help="Alert rules: check them, test them on a simulated day.")
app.add_typer(rules_app, name="rules", no_args_is_help=True)
app.add_typer(policy_app, name="policy", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(lab_app, name="lab", no_args_is_help=True)
console = Console(stderr=True)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for noisy in ("amqtt", "transitions", "httpx", "alembic", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("a number of simulated seconds per second, or 'max'") from None
    if speed <= 0:
        raise typer.BadParameter("speed must be positive")
    return speed


@app.command()
def broker(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 1883,
    password_file: Annotated[
        Path | None, typer.Option(help="Mosquitto password file ($7$ hashes; aqkol up makes one)")
    ] = None,
    acl_file: Annotated[Path | None, typer.Option(help="Mosquitto ACL file")] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="no accounts, no ACL: for tests on 127.0.0.1 only")
    ] = False,
) -> None:
    """Run the embedded MQTT broker (amqtt) with accounts and a topic ACL (or --open)."""
    from services import broker as embedded

    _logging()
    if open_ == (password_file is not None or acl_file is not None):
        raise typer.BadParameter("give --password-file and --acl-file, or --open")
    if not open_ and (password_file is None or acl_file is None):
        raise typer.BadParameter("--password-file and --acl-file go together")
    embedded.run(host, port, password_file, acl_file)


@app.command()
def ingest(
    ready_file: Annotated[Path | None, typer.Option(help="touched once subscribed")] = None,
    share: Annotated[str | None, typer.Option(help="MQTT 5 shared-subscription group")] = None,
    policy: Annotated[
        str | None,
        typer.Option(help="always apply this policy (a comparison lane), not the active one"),
    ] = None,
) -> None:
    """Run an ingest worker: validate, apply the policy and the rules, store."""
    from services.ingest import Ingest

    _logging()
    pinned = {"policy": policy, "policy_pinned": True} if policy else {}
    worker = Ingest(Settings(**pinned), share=share)
    stop = _stop_flag()
    worker.start()
    while not worker.ready.wait(0.5):
        if stop["now"]:
            break
    if ready_file is not None and worker.ready.is_set():
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        ready_file.touch()
    last = time.monotonic()
    while not stop["now"]:
        time.sleep(0.2)
        if time.monotonic() - last > 30:
            s = worker.stats
            logging.info(
                "stored=%d duplicates=%d dead_letters=%d alerts=%d%s",
                s.stored,
                s.duplicates,
                s.dead_letters,
                s.alerts_opened,
                "".join(f" [{k}: {n}]" for k, n in sorted(s.reasons.items())),
            )
            if s.held:
                logging.error("holding the stream: %s", s.held)
            last = time.monotonic()
    worker.stop()


def _stop_flag() -> dict[str, bool]:
    flag = {"now": False}

    def handler(_sig: int, _frame: object) -> None:
        flag["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return flag


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="default AQKOL_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default AQKOL_API_PORT")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from services.api.main import create_app
    from services.store.db import migrate

    settings = Settings()
    migrate(settings.effective_database_url)
    tls = {}
    if settings.tls_cert and settings.tls_key:
        tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="warning",
        **tls,
    )


@app.command()
def dashboard(
    host: Annotated[str | None, typer.Option(help="default AQKOL_DASHBOARD_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default AQKOL_DASHBOARD_PORT")] = None,
) -> None:
    """Run the Dash situation room (its own settings: the same AQKOL_* variables)."""
    from dashboard.app import run
    from dashboard.settings import DashboardSettings

    _logging()
    settings = DashboardSettings()
    if host:
        settings.dashboard_host = host
    if port:
        settings.dashboard_port = port
    run(settings)


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="same seed, same events")] = 1,
    hours: Annotated[
        float | None,
        typer.Option(help="simulated hours to run (default: the scenario's, or 24)", min=0.01),
    ] = None,
    speed: Annotated[str, typer.Option(help="simulated seconds per second, or 'max'")] = "60",
    start: Annotated[str | None, typer.Option(help="simulated start, ISO with offset")] = None,
    run_id: Annotated[str | None, typer.Option(help="folder name under runs/")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="scenario name in scenarios/ or a YAML path")
    ] = None,
    senders: Annotated[
        int,
        typer.Option(
            help="publishing processes, one connection each (0: publish from this process)",
            min=0,
            max=16,
        ),
    ] = 2,
    edge_policy: Annotated[
        str | None,
        typer.Option(
            help="a policy whose 'at: edge' transforms the devices apply from the start "
            "(else: the one the API announces on the control topic, if any)"
        ),
    ] = None,
) -> None:
    """Run the town and publish its events over MQTT (QoS 1).

    While it runs: pause, resume or change speed by publishing {"command": "pause"},
    {"command": "resume"} or {"command": "speed", "value": 600} to aqkol/control/simulator
    (acknowledged on aqkol/control/simulator/status). Ground truth goes to runs/<run-id>/.
    """
    from services.events.scenarios import ScenarioError, load_scenario
    from simulator.publisher import run

    _logging()
    started = datetime.fromisoformat(start) if start else None
    if started is not None and started.tzinfo is None:
        raise typer.BadParameter("--start needs a UTC offset, e.g. 2026-01-15T06:30+06:00")
    plan = None
    if scenario is not None:
        try:
            plan = load_scenario(scenario)
        except ScenarioError as exc:
            console.print(f"[red]scenario refused:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None
        started = started or plan.start
    if hours is None:
        hours = plan.hours if plan is not None and plan.hours else 24.0
    from services.policy.edge import EdgeMinimizer

    edge = None
    if edge_policy is not None:
        from services.policy.active import POLICIES_DIR, PolicyBook
        from services.policy.spec import PolicyError

        try:
            book = PolicyBook(Settings().policies_dir or POLICIES_DIR)
            edge = EdgeMinimizer(book.spec(edge_policy))
        except PolicyError as exc:
            console.print(f"[red]policy refused:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None
    summary = run(
        Settings(),
        seed=seed,
        hours=hours,
        speed=_speed(speed),
        start=started,
        run_id=run_id,
        progress=True,
        scenario=plan,
        processes=senders,
        edge=edge,
        edge_factory=EdgeMinimizer.from_transforms,  # the devices apply a policy's edge part
    )
    console.print(summary)


@events_app.command("schema")
def events_schema(
    kind: Annotated[str | None, typer.Option(help="only this kind's envelope")] = None,
) -> None:
    """Print the JSON Schema of the event contract."""
    from services.events import KINDS, event_models, json_schema

    if kind is None:
        schema = json_schema()
    elif kind in KINDS:
        schema = event_models()[kind].model_json_schema(by_alias=True)
    else:
        console.print(f"[red]unknown kind {kind!r}[/]; known: {', '.join(sorted(KINDS))}")
        raise typer.Exit(2)
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@events_app.command("town-map")
def events_town_map(
    out: Annotated[
        Path | None, typer.Option(help="write it here [default: standard output]")
    ] = None,
) -> None:
    """Export the simulated town's map as data (the command center reads it: AQKOL_TOWN_MAP)."""
    import orjson

    from simulator.geography import build_town

    body = orjson.dumps(build_town().to_json(), option=orjson.OPT_SORT_KEYS) + b"\n"
    if out is None:
        sys.stdout.buffer.write(body)
    else:
        out.write_bytes(body)
        console.print(f"the town's map: {out} ({len(body):,} bytes)")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to AQKOL_DATABASE_URL (or the SQLite file)."""
    from services.store.db import migrate

    settings = Settings()
    migrate(settings.effective_database_url)
    console.print(f"database at head: {settings.effective_database_url.split('@')[-1]}")


def _forget_audit_anchor(settings: Settings, url: str) -> None:
    """A store started afresh on purpose: its audit chain's anchor goes with it."""
    from services.transparency.audit import forget_anchor

    forget_anchor(settings.var_dir, url)


@db_app.command("app-role")
def db_app_role(
    role: Annotated[str, typer.Option(help="the role the services connect as")] = "aqkol_app",
) -> None:
    """Create or update the services' database role (PostgreSQL): not the owner, not a
    superuser, append-only on the audit log. Run as the owner after `db upgrade`; the
    password comes from AQKOL_APP_DB_PASSWORD (never from the command line)."""
    import os

    from services.store.db import make_engine
    from services.store.roles import RoleError, grant_app_role

    password = os.environ.get("AQKOL_APP_DB_PASSWORD", "")
    engine = make_engine(Settings().effective_database_url)
    try:
        grant_app_role(engine, password, role)
    except RoleError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"role {role}: may read and write the data, append to the audit log only")


def _rule_paths(paths: list[Path] | None) -> list[Path]:
    from services.rules.book import RULES_DIR

    out: list[Path] = []
    for p in paths or [Settings().rules_dir or RULES_DIR]:
        out.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return out


@rules_app.command("check")
def rules_check(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="rule files or folders (default: rules/)")
    ] = None,
) -> None:
    """Validate rule files; print each error with its file and line. Exit 1 if any fails."""
    from services.rules.book import load_rule_file
    from services.rules.spec import RuleError

    files = _rule_paths(paths)
    if not files:
        console.print("[red]no rule files found[/]")
        raise typer.Exit(2)
    failed = 0
    seen: dict[str, Path] = {}
    for f in files:
        try:
            rule = load_rule_file(f)
        except RuleError as exc:
            failed += 1
            console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
            continue
        if rule.id in seen:
            failed += 1
            console.print(f"[red]✗[/] {f}:1: id {rule.id!r} is already used by {seen[rule.id]}")
            continue
        seen[rule.id] = f
        tag = " [magenta](misuse demonstration)[/]" if rule.spec.misuse else ""
        needs = ", ".join(rule.needs) or "-"
        console.print(
            f"[green]✓[/] {f}: {rule.id} ({rule.spec.severity}; needs {needs}){tag}", soft_wrap=True
        )
    console.print(f"{len(files) - failed} ok, {failed} refused")
    if failed:
        raise typer.Exit(1)


@rules_app.command("test")
def rules_test(
    rule: Annotated[
        list[str], typer.Argument(help="rule ids (in rules/) or rule files; 'all' for every rule")
    ],
    scenario: Annotated[str, typer.Option(help="scenario name or YAML path")] = "normal-winter-day",
    seed: Annotated[int, typer.Option(help="seed of the town")] = 1,
    hours: Annotated[
        float | None, typer.Option(help="simulated hours (default: the scenario's)", min=0.01)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="folder for summary/alerts CSV and timeline.html")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="replay through this data-minimization policy first")
    ] = None,
) -> None:
    """Replay a simulated day through rules; score the alerts against the ground truth."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from services.events.scenarios import load_scenario
    from services.events.yamldoc import YamlFileError
    from services.lab.rulebench import replay_scenario, write_outputs
    from services.rules.book import RuleBook, load_rule_file
    from services.rules.spec import RuleError

    book = RuleBook(Settings().rules_dir or RuleBook().folder)
    chosen = []
    try:
        for r in rule:
            if r == "all":
                chosen.extend(book.rules)
            elif r.endswith((".yaml", ".yml")) or Path(r).is_file():
                chosen.append(load_rule_file(Path(r)))
            else:
                found = book.get(r)
                if found is None:
                    known = ", ".join(x.id for x in book.rules)
                    raise RuleError(r, None, f"no such rule (known: {known})")
                if found[2] is not None:
                    raise found[2]
                chosen.append(found[1])
        sc = load_scenario(scenario)
        minimizer = None
        if policy is not None:
            from services.policy.active import POLICIES_DIR, PolicyBook
            from services.policy.apply import Minimizer, load_secret

            settings = Settings()
            spec = PolicyBook(settings.policies_dir or POLICIES_DIR).spec(policy)
            minimizer = Minimizer(spec, load_secret(settings.var_dir, settings.pseudonym_key))
    except YamlFileError as exc:  # a rule, scenario or policy that cannot be used
        console.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    total_h = hours or sc.hours or 24.0
    with Progress(
        TextColumn("[bold]replaying {task.fields[scenario]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of {task.fields[hours]:g} h"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=total_h * 3600, scenario=sc.name, hours=total_h)
        state = {"last": 0.0}

        def progress(sim_s: float) -> None:
            if sim_s - state["last"] >= 300:
                state["last"] = sim_s
                bar.update(task, completed=sim_s)

        result = replay_scenario(
            chosen, scenario, seed=seed, hours=total_h, progress=progress, policy=minimizer
        )
    under = f", policy {policy}" if policy else ""
    table = Table(
        title=f"{sc.name}, seed {seed}, {total_h:g} h{under}: {result.events:,} events kept"
    )
    for col in ("rule", "alerts", "false", "precision", "recall", "detect (min)", "innocent hit"):
        table.add_column(col, justify="left" if col == "rule" else "right")
    fmt = lambda v: "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    for rep in result.reports.values():
        s = rep.summary()
        name = s["rule"] + (" [magenta](MISUSE)[/]" if s["misuse"] else "")
        if s["state"] != "active":
            name += f" [yellow]({s['state']})[/]"
        table.add_row(
            name,
            str(s["alerts"]),
            str(s["false_alerts"]),
            fmt(s["precision"]),
            fmt(s["recall"]) + (f" ({s['detected']}/{s['incidents']})" if s["incidents"] else ""),
            fmt(s["median_minutes_to_detect"]),
            str(s["innocent_people_matched"]),
        )
    Console().print(table)
    for rep in result.reports.values():
        if rep.false_matches:
            groups = ", ".join(
                f"{sex} {age}: {n}" for (sex, age), n in sorted(rep.false_matches.items())
            )
            Console().print(f"{rep.rule.id}: false face matches by group: {groups}")
        if rep.status.get("errors"):
            Console().print(
                f"[yellow]{rep.rule.id}: {rep.status['errors']} evaluation errors; last: "
                f"{rep.status['last_error']}[/]"
            )
    folder = out or Settings().runs_dir / f"rules-test-{sc.name}-seed{seed}"
    for p in write_outputs(result, folder):
        console.print(f"wrote {p}")
    from dashboard.figures import alert_timeline  # the root draws: the bench only scores

    judged = [
        {**j.alert, "true": j.true, "why": j.why}
        for rep in result.reports.values()
        for j in rep.alerts
    ]
    timeline = folder / "timeline.html"
    alert_timeline(judged, result.incidents).write_html(timeline, include_plotlyjs=True)
    console.print(f"wrote {timeline}")


@app.command()
def up(
    seed: Annotated[int, typer.Option(help="seed of the town")] = 1,
    speed: Annotated[str, typer.Option(help="simulated seconds per second, or 'max'")] = "60",
    hours: Annotated[float, typer.Option(help="simulated hours")] = 24.0,
    start_at: Annotated[
        str, typer.Option("--start", help="simulated start, ISO with offset")
    ] = "2026-01-15T07:20:00+06:00",
    keep: Annotated[bool, typer.Option(help="keep the previous SQLite data")] = False,
    embedded_broker: Annotated[
        bool | None,
        typer.Option(
            help="start a private broker on AQKOL_MQTT_URL's port [default: unless that is set]"
        ),
    ] = None,
    broker_kind: Annotated[
        str,
        typer.Option(
            "--broker",
            help="the private broker: auto (Mosquitto when installed, else amqtt), "
            "mosquitto or amqtt",
        ),
    ] = "auto",
    policy: Annotated[
        str | None, typer.Option(help="make this data-minimization policy active at start")
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(help="also store the stream under this policy, shown side by side"),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(help="serve the dashboard and the API over HTTPS (a self-signed certificate)"),
    ] = False,
    lan: Annotated[
        bool,
        typer.Option(
            help="serve the class on this machine's network address (students' own devices); "
            "refused with a broker that accepts anonymous clients"
        ),
    ] = False,
    lan_address: Annotated[
        str | None,
        typer.Option(help="with --lan: the address to announce [default: the default route's]"),
    ] = None,
) -> None:
    """Run the whole town: broker, ingest, API, dashboard and simulator.

    With --lan the dashboard and the API listen on every interface, and the class address is
    printed with a QR code (also on the teacher's page); students log in with the accounts of
    `aqkol users add-class`.

    With --compare POLICY a second ingest stores the same stream under POLICY into its own
    database (var/lane-POLICY.db), a second API serves it on the next port, and the
    situation room shows both side by side.
    """
    from services.broker import INSTALL_MOSQUITTO, PrivateMosquitto, mosquitto_binary
    from services.config import DEFAULT_MQTT_URL
    from services.mqtt_accounts import make_broker_accounts
    from services.store.db import migrate

    _speed(speed)
    if broker_kind not in ("auto", "mosquitto", "amqtt"):
        raise typer.BadParameter("--broker is auto, mosquitto or amqtt")
    settings = Settings()
    from services.events.keys import private_dir

    private_dir(settings.var_dir)  # password hashes, keys, the pseudonym escrow: ours only
    env = dict(os.environ)
    if embedded_broker is None:
        embedded = "AQKOL_MQTT_URL" not in os.environ or settings.mqtt_url == DEFAULT_MQTT_URL
    else:
        embedded = embedded_broker
    class_link = None
    if lan:
        from services.classroom.lan import ALL_INTERFACES, LanError, class_url
        from services.classroom.lan import lan_address as find_address

        try:
            address = lan_address or find_address()
        except LanError as exc:
            console.print(f"[red]--lan refused:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        # the services keep talking to each other on 127.0.0.1; only the children listen wide
        env["AQKOL_API_HOST"] = env["AQKOL_DASHBOARD_HOST"] = ALL_INTERFACES
        class_link = class_url(address, settings.dashboard_port)
        env["AQKOL_CLASS_URL"] = class_link
    for what, host, port, var in (
        ("API", settings.api_host, settings.api_port, "AQKOL_API_PORT"),
        ("dashboard", settings.dashboard_host, settings.dashboard_port, "AQKOL_DASHBOARD_PORT"),
    ):
        if _port_busy(host, port):
            console.print(f"[red]port {port} for the {what} is in use[/]; set {var} to another")
            raise typer.Exit(1)
    if embedded and _port_busy(settings.mqtt.host, settings.mqtt.port):
        # another broker (often a system Mosquitto) has 1883: the embedded one takes any port
        port = _free_port(settings.mqtt.host)
        console.print(f"port {settings.mqtt.port} is in use; the embedded broker takes {port}")
        settings.mqtt_url = f"mqtt://{settings.mqtt.host}:{port}"
        env["AQKOL_MQTT_URL"] = settings.mqtt_url
    mosquitto = mosquitto_binary() if embedded and broker_kind != "amqtt" else None
    if embedded and broker_kind == "mosquitto" and mosquitto is None:
        console.print(f"[red]--broker mosquitto: no mosquitto binary here.[/] {INSTALL_MOSQUITTO}")
        raise typer.Exit(1)
    role_urls: dict[str, str] = {}  # the account each service logs in to the broker with
    if embedded:
        # fresh accounts and an ACL for this start (var/mqtt/, 0600): each service gets its
        # own account through AQKOL_MQTT_URL in its environment, never on a command line
        target = settings.mqtt
        broker_accounts = make_broker_accounts(settings.var_dir, settings.mqtt_prefix)
        role_urls = {
            cmd: broker_accounts.url(role, target.host, target.port)
            for cmd, role in (("ingest", "ingest"), ("api", "api"), ("simulate", "simulator"))
        }
        env["AQKOL_MQTT_URL"] = f"mqtt://{target.host}:{target.port}"  # no account
        # the supervisor stands in for the simulator while it restarts it (a reset)
        settings.mqtt_url = role_urls["simulate"]
        # amqtt speaks only 3.1.1 (no need to probe); Mosquitto 5 (a large receive window)
        env["AQKOL_MQTT_PROTOCOL"] = "5" if mosquitto else "3.1.1"
    scheme, tls_line = "http", ""
    verify: Any = True
    if tls:
        from services.tls import client_context, ensure_certificate

        names = [settings.api_host, settings.dashboard_host, *([address] if lan else [])]
        cert, key, fingerprint = ensure_certificate(settings.var_dir, names)
        if class_link:  # the students' devices come over HTTPS too
            class_link = env["AQKOL_CLASS_URL"] = class_link.replace("http://", "https://", 1)
        env.update(AQKOL_TLS_CERT=str(cert), AQKOL_TLS_KEY=str(key))
        scheme, verify = "https", client_context(cert)  # ours, so checked against itself
        tls_line = f"[b]Certificate[/]     self-signed, SHA-256 {fingerprint}\n"
    env["AQKOL_API_URL"] = f"{scheme}://{settings.api_host}:{settings.api_port}"
    if not settings.database_url and not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(settings.var_dir / "aqkol.db") + suffix).unlink(missing_ok=True)
        _forget_audit_anchor(settings, settings.effective_database_url)
    sup = Supervisor(env, role_urls)
    failure: SupervisorError | None = None
    launch = sup.launch

    try:
        target = settings.mqtt
        if mosquitto:
            private = PrivateMosquitto(
                broker_accounts.folder,
                target.host,
                target.port,
                broker_accounts.password_file,
                broker_accounts.acl_file,
                mosquitto,
            )
            sup.adopt("broker", private.start())
            broker_line = f"private Mosquitto, accounts and ACL in {broker_accounts.folder}"
        elif embedded:
            launch("broker", "broker", "--host", target.host, "--port", str(target.port),
                   "--password-file", str(broker_accounts.password_file),
                   "--acl-file", str(broker_accounts.acl_file))  # fmt: skip
            broker_line = f"embedded amqtt, accounts and ACL in {broker_accounts.folder}"
            if broker_kind == "auto":
                console.print(f"[yellow]No Mosquitto: the demo uses amqtt.[/] {INSTALL_MOSQUITTO}")
        else:
            broker_line = "external"
        sup.wait_for(lambda: _broker_ok(settings), 60, "the MQTT broker")
        if lan:
            from services.classroom.lan import broker_is_open

            if broker_is_open(target.host, target.port):
                console.print(
                    f"[red]--lan refused: the broker at {target.host}:{target.port} accepts "
                    "clients without an account.[/] Anyone on the school network could read "
                    "the town's people and command the simulator. Use the private broker "
                    "(leave AQKOL_MQTT_URL unset) or give yours accounts and an ACL "
                    "(see SECURITY.md).",
                    highlight=False,
                )
                raise typer.Exit(1)
        migrate(settings.effective_database_url)
        if policy:
            _activate(settings, policy)
        accounts = demo_accounts(settings)
        ready = settings.var_dir / "ingest.ready"
        ready.unlink(missing_ok=True)
        launch("ingest", "ingest", "--ready-file", str(ready))
        sup.wait_for(lambda: ready.exists(), 60, "the ingest to subscribe")
        launch("api", "api")
        lane_line = ""
        lanes: list = []  # (ingest process name, database URL, relaunch) of a policy lane
        if compare:
            lane_url, lane_api, lane = _start_lane(settings, compare, keep, sup)
            lanes.append(lane)
            env["AQKOL_COMPARE_API_URL"] = lane_api
            env["AQKOL_COMPARE_POLICY"] = compare
            lane_line = f"[b]Lane {compare}[/]  {lane_api}/docs ({lane_url})\n"
        launch("dashboard", "dashboard")
        api_url = f"{scheme}://{settings.api_host}:{settings.api_port}"
        dash_url = f"{scheme}://{settings.dashboard_host}:{settings.dashboard_port}/"
        sup.wait_for(lambda: _http_ok(api_url + "/health", verify), 60, "the API")
        sup.wait_for(lambda: _http_ok(dash_url + "login", verify), 60, "the dashboard")
        sim = ["simulate", "--seed", str(seed), "--speed", speed, "--hours", str(hours)]
        # the devices apply the active policy's edge part from the first event (a switch
        # later reaches them over the control topic)
        edge_policy = _active_edge_policy(settings)
        sim += ["--edge-policy", edge_policy] if edge_policy else []
        launch("simulator", *sim, "--start", start_at)
        lab_quick = _start_quick_lab(settings, env)
        from services.classroom.reset import ResetWatch

        resets = ResetWatch(settings)  # a teacher's "reset the town" is carried out here
        resets.start()
        class_lines = f"[b]Class address[/]   {class_link}  (students open this)\n" if lan else ""
        console.print(
            Panel.fit(
                f"{class_lines}"
                f"[b]Situation room[/]  {dash_url}\n"
                f"[b]API docs[/]        {api_url}/docs\n"
                f"[b]Broker[/]          mqtt://{target.host}:{target.port} ({broker_line})\n"
                f"[b]Database[/]        {settings.effective_database_url.split('@')[-1]}\n"
                f"{tls_line}"
                f"{lane_line}\n"
                f"{accounts}\n\n"
                "Press Ctrl+C to stop.",
                title="Aqkol sandbox is running",
            )
        )
        if class_link:
            from services.classroom.lan import qr_text

            console.print(qr_text(class_link), markup=False, highlight=False, soft_wrap=True)
            console.print(
                f"Class address {class_link}: scan the code, or type the address. Student "
                "accounts and a sheet of login cards: aqkol users add-class --students 30",
                highlight=False,
                soft_wrap=True,
            )
        stop = _stop_flag()
        n_resets = 0
        while not stop["now"]:
            if resets.requested.is_set():
                resets.requested.clear()
                n_resets += 1
                _reset_town(settings, resets, sup, ready, [*sim, "--start", start_at,
                            "--run-id", f"seed{seed}-reset{n_resets}"], lanes)  # fmt: skip
            died = sup.failed()
            if died is not None:
                raise died
            time.sleep(0.5)
    except SupervisorError as exc:
        # the town is down: say which part, and exit non-zero (a service manager, a
        # classroom script or CI sees it)
        console.print(f"[red]{exc}; stopping[/]", highlight=False)
        failure = exc
    finally:
        console.print("stopping...")
        if "resets" in locals():
            resets.stop()
        if locals().get("lab_quick") is not None and lab_quick.poll() is None:
            lab_quick.terminate()  # its finished cells stay; the next run resumes them
        sup.stop_all()
    if failure is not None:
        raise typer.Exit(1)


def _start_quick_lab(settings: Settings, env: dict[str, str]) -> subprocess.Popen | None:
    """The Lab page's first result: the quick experiment, in the background and at low
    priority, when the Lab has none yet (AQKOL_LAB_QUICK=false: never)."""
    from services.api import labruns

    results = labruns.results_dir(settings)
    if not settings.lab_quick or labruns.list_runs(results):
        return None
    proc = labruns.start_quick(results, env)
    if proc is not None:
        console.print("the Lab has no result yet: the quick experiment runs in the background")
    return proc


def _reset_town(
    settings: Settings, resets, sup: Supervisor, ready: Path, sim: list[str], lanes: list
) -> None:
    """Stop the simulator and the ingests, empty the run's stores (a policy lane's too), start
    them again and the town from its seed."""
    from services.classroom.reset import wipe_run_data
    from services.store.db import make_engine
    from services.store.models import events

    console.print("[yellow]resetting the town: the store of this run is emptied[/]")
    stores = [("ingest", settings.effective_database_url, None), *lanes]
    engines = {name: make_engine(url) for name, url, _ in stores}
    for name in ("simulator", *engines):
        if name in engines:  # let it store what is in flight, or it would come back later
            _wait_stable(engines[name], events)
        sup.stop(name)
    for name, engine in engines.items():
        try:
            logging.info("reset: %s deleted %s", name, wipe_run_data(engine))
        finally:
            engine.dispose()
    resets.announce({"state": "resetting"})  # after the old simulator's "stopped" (its will)
    ready.unlink(missing_ok=True)
    sup.launch("ingest", "ingest", "--ready-file", str(ready))
    sup.wait_for(lambda: ready.exists(), 60, "the ingest to subscribe")
    for _name, _url, relaunch in lanes:
        relaunch()
    sup.launch("simulator", *sim)


def _wait_stable(engine, table, quiet_s: float = 1.5, most_s: float = 20.0) -> None:
    """Until the table's row count has not changed for ``quiet_s`` (at most ``most_s``)."""
    from sqlalchemy import func, select

    def rows() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

    end, last, since = time.monotonic() + most_s, rows(), time.monotonic()
    while time.monotonic() < end and time.monotonic() - since < quiet_s:
        time.sleep(0.3)
        now = rows()
        if now != last:
            last, since = now, time.monotonic()


def _active_edge_policy(settings: Settings) -> str | None:
    """The id of the policy in force in the store (``AQKOL_POLICY`` before any switch), if
    it has transforms ``at: edge`` (None otherwise, or if it cannot load)."""
    from services.policy.active import POLICIES_DIR, PolicyBook, active_policy
    from services.policy.spec import PolicyError, edge_part
    from services.store.db import make_engine

    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            policy = active_policy(conn, settings.policy)[0]
    finally:
        engine.dispose()
    try:
        spec = PolicyBook(settings.policies_dir or POLICIES_DIR).spec(policy)
    except PolicyError:
        return None
    return policy if edge_part(spec) is not None else None


def _activate(settings: Settings, policy: str) -> None:
    from services.policy.active import POLICIES_DIR, PolicyBook, activate
    from services.policy.spec import PolicyError
    from services.store.db import make_engine

    engine = make_engine(settings.effective_database_url)
    try:
        with engine.begin() as conn:
            activate(conn, PolicyBook(settings.policies_dir or POLICIES_DIR), policy, "aqkol up")
    except PolicyError as exc:
        raise typer.Exit(f"policy refused: {exc}") from None
    finally:
        engine.dispose()


def _start_lane(
    settings: Settings, policy: str, keep: bool, sup: Supervisor
) -> tuple[str, str, Any]:
    """A second ingest storing the stream under ``policy`` into its own database, and an API
    on the next port over it; the same accounts (with the same passwords) log in there.
    Returns the database (for display), the API's URL, and (ingest name, database URL, a
    function that starts the ingest again) for a reset."""
    from services.auth.users import copy_accounts
    from services.policy.active import POLICIES_DIR, PolicyBook
    from services.policy.spec import PolicyError
    from services.store.db import make_engine, migrate

    try:
        PolicyBook(settings.policies_dir or POLICIES_DIR).spec(policy)
    except PolicyError as exc:
        raise typer.Exit(f"policy refused: {exc}") from None
    db = settings.var_dir / f"lane-{policy}.db"
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        _forget_audit_anchor(settings, f"sqlite:///{db.resolve()}")
    if settings.database_url:
        raise typer.Exit("--compare keeps its lane in SQLite next to the default store; "
                         "unset AQKOL_DATABASE_URL to use it")  # fmt: skip
    lane_url = f"sqlite:///{db.resolve()}"
    migrate(lane_url)
    main, lane = make_engine(settings.effective_database_url), make_engine(lane_url)
    try:
        copy_accounts(main, lane)
    finally:
        main.dispose()
        lane.dispose()
    port = settings.api_port + 1
    if _port_busy(settings.api_host, port):
        raise typer.Exit(f"port {port} for the {policy} lane's API is in use")
    ready = settings.var_dir / f"lane-{policy}.ready"
    ready.unlink(missing_ok=True)
    extra = {
        "AQKOL_DATABASE_URL": lane_url,
        "AQKOL_INGEST_CLIENT_ID": f"aqkol-lane-{policy}",
        "AQKOL_POLICY": policy,
        "AQKOL_POLICY_PINNED": "true",
    }

    def start_ingest() -> None:
        ready.unlink(missing_ok=True)
        sup.launch(f"ingest {policy}", "ingest", "--ready-file", str(ready), "--policy", policy,
               extra=extra)  # fmt: skip
        sup.wait_for(lambda: ready.exists(), 60, f"the {policy} lane to subscribe")

    start_ingest()
    sup.launch(f"api {policy}", "api", "--port", str(port), extra=extra)
    api = f"http://{settings.api_host}:{port}"
    sup.wait_for(lambda: _http_ok(api + "/health"), 60, f"the {policy} lane's API")
    return lane_url.split("@")[-1], api, (f"ingest {policy}", lane_url, start_ingest)


def _broker_ok(settings: Settings) -> bool:
    from services.mqtt import plain_client

    client = plain_client(settings)
    try:
        client.connect(settings.mqtt.host, settings.mqtt.port, keepalive=5)
        client.disconnect()
        return True
    except OSError:
        return False


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _http_ok(url: str, verify: Any = True) -> bool:
    try:
        return httpx.get(url, timeout=2, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    app()
