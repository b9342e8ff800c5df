"""What `prefstream run` starts: the ports it uses, the child processes, the default sinks config."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from prefstream.core import ports
from prefstream.core.settings import PROJECT_ROOT, Settings

ROOT = PROJECT_ROOT
DEFAULT_SINKS = ROOT / "deploy" / "sinks.local.toml"


@dataclass(frozen=True)
class Ports:
    """127.0.0.1 ports of the stages; `Ports.from_base(n)` puts them at n, n+1, ... instead."""

    processor: int = ports.PROCESSOR
    web: int = ports.WEB
    call_center: int = ports.CALL_CENTER
    social: int = ports.SOCIAL
    sms: int = ports.SMS
    crm_metrics: int = ports.CRM_SINK_METRICS
    archive_metrics: int = ports.ARCHIVE_SINK_METRICS
    simulator_metrics: int = ports.SIMULATOR_METRICS

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Consecutive ports from `base` (for a second pipeline beside the default one, e.g. in tests)."""
        return cls(*range(base, base + 8))


@dataclass(frozen=True)
class Traffic:
    """What the simulator sends: customers, requests per second, seconds (0: until stopped)."""

    customers: int = 1000
    rate: float = 50.0
    duration: float = 0.0


@dataclass
class Stage:
    """A long-running child process of the pipeline, with its log file and its metrics address."""

    name: str
    command: list[str]
    metrics: str | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, logs: Path) -> int:
        """Start it in its own session (a terminal's Ctrl+C reaches only `run`), output to its log; its pid."""
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{self.name}.log").open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env, start_new_session=True)
        return self.process.pid

    def exited(self) -> int | None:
        """Its exit code once it has exited, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM by PID; SIGKILL to its process group after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def web_secret(home: Path) -> str:
    """PREFSTREAM_WEB_SECRET, else a random one kept in <home>/web.secret (so printed links survive a restart)."""
    if os.environ.get("PREFSTREAM_WEB_SECRET"):
        return os.environ["PREFSTREAM_WEB_SECRET"]
    path = home / "web.secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def sinks_config(home: Path, ports: Ports) -> Path:
    """PREFSTREAM_SINKS, else deploy/sinks.local.toml rendered to <home>/sinks.toml."""
    if os.environ.get("PREFSTREAM_SINKS"):
        return Path(os.environ["PREFSTREAM_SINKS"])
    target = home / "sinks.toml"
    target.write_text(Template(DEFAULT_SINKS.read_text()).substitute(
        home=home.resolve(), crm_metrics_port=ports.crm_metrics, archive_metrics_port=ports.archive_metrics))
    return target


def child_env(settings: Settings, ports: Ports, sinks: Path) -> dict[str, str]:
    """The environment of every stage: ours, plus the web secret, the query API and the sinks config."""
    return {**os.environ, "PREFSTREAM_WEB_SECRET": web_secret(settings.home),
            "PREFSTREAM_PROCESSOR_URL": f"http://127.0.0.1:{ports.processor}", "PREFSTREAM_SINKS": str(sinks)}


def pipeline_stages(settings: Settings, ports: Ports, env: dict[str, str]) -> list[Stage]:
    """The processor, the four HTTP adapters and one sink per business unit, in start order."""
    from sinks.config import load_sinks

    cli = [sys.executable, "-m", "prefstream"]
    local = "http://127.0.0.1:{}".format
    stages = [
        Stage("processor", [*cli, "process", "--web-port", str(ports.processor)], local(ports.processor) + "/metrics/", env),
        Stage("web", [*cli, "serve", "web", "--port", str(ports.web)], local(ports.web) + "/metrics", env),
        Stage("call-center", [*cli, "serve", "call-center", "--port", str(ports.call_center)], local(ports.call_center) + "/metrics", env),
        Stage("social", [*cli, "serve", "social", "--port", str(ports.social)], local(ports.social) + "/metrics", env),
        Stage("sms", [*cli, "serve", "sms", "--port", str(ports.sms)], local(ports.sms) + "/metrics", env),
    ]
    for unit in load_sinks(Path(env["PREFSTREAM_SINKS"])).values():
        metrics = f"http://{unit.metrics_host}:{unit.metrics_port}/metrics" if unit.metrics_port else None
        stages.append(Stage(f"sink-{unit.name}", [*cli, "sink", "run", unit.name], metrics, env))
    return stages


def simulator_stage(ports: Ports, traffic: Traffic, env: dict[str, str]) -> Stage:
    """`prefstream simulate` against the stages' ports, its POS counters on its own metrics port."""
    return Stage("simulator", [
        sys.executable, "-m", "prefstream", "simulate", "--customers", str(traffic.customers), "--rate", str(traffic.rate),
        "--duration", str(traffic.duration), "--web-port", str(ports.web), "--call-center-port", str(ports.call_center),
        "--social-port", str(ports.social), "--sms-port", str(ports.sms), "--metrics-port", str(ports.simulator_metrics),
    ], f"http://127.0.0.1:{ports.simulator_metrics}/metrics", env)
