"""A local single-node Apache Kafka (KRaft) for development and tests.

The jars come from Maven Central through `deploy/kafka/pom.xml`; data, logs, the generated
`server.properties` and the PID file live under the settings' home folder. Only a process this
module started (checked through its command line) is ever stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from prefstream.core.settings import PROJECT_ROOT, Settings
from prefstream.core.topics import KafkaUnreachable, admin_client
from prefstream.errors import EXIT_SETUP, PrefstreamError

DEPLOY_KAFKA = PROJECT_ROOT / "deploy" / "kafka"
LOG4J_CONFIG = DEPLOY_KAFKA / "log4j2.properties"
_EXCEPTION_LINE = re.compile(r"[\w.$]+(Exception|Error): ")
JVM_OPTIONS = ["-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


class BrokerError(PrefstreamError):
    """The local broker could not be set up, started or stopped; the message says why."""

    exit_code = EXIT_SETUP


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the local broker runs, where, and which Kafka version."""

    running: bool
    pid: int | None
    address: str
    version: str | None


def kafka_version(lib: Path) -> str | None:
    """The Kafka version of the jars in `lib`, read from the broker jar's name."""
    jars = sorted(lib.glob("kafka_2.13-*.jar")) if lib.is_dir() else []
    return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else None


def ensure_jars(settings: Settings) -> Path:
    """Resolve the Kafka jars into the local lib folder with Maven, once."""
    lib = settings.kafka_lib
    stamp = lib / ".resolved"
    pom = DEPLOY_KAFKA / "pom.xml"
    if stamp.exists() and stamp.stat().st_mtime >= pom.stat().st_mtime:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) not found: install it (apt-get install maven) to fetch the Kafka jars")
    if lib.exists():
        shutil.rmtree(lib)
    done = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise BrokerError(f"fetching the Kafka jars with Maven failed: {last[0]}")
    stamp.touch()
    return lib


def _java() -> str:
    java = shutil.which("java", path=os.environ.get("PATH"))
    if java is None:
        raise BrokerError("Java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless)")
    return java


def read_properties(path: Path) -> dict[str, str]:
    """Parse a Java properties file of `key=value` lines, rejecting anything else."""
    properties: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BrokerError(f"{path} line {number} is not key=value: {line[:60]!r}")
        properties[key.strip()] = value.strip()
    for required in ("process.roles", "node.id", "controller.listener.names"):
        if required not in properties:
            raise BrokerError(f"{path} lacks {required}, needed for a KRaft node")
    return properties


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class LocalBroker:
    """Start, stop and inspect the local Kafka node of one settings' home folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.home / "kafka"
        self.data = root / "data"
        self.logs = root / "logs"
        self.properties = root / "server.properties"
        self.pid_file = root / "broker.pid"
        self.cluster_id_file = root / "cluster.id"
        self._log_offsets: dict[str, int] = {"server.log": 0, "stdout.log": 0}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.local_port}"

    def pid(self) -> int | None:
        """The PID of our running broker, or None (a stale PID file is removed)."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            cmdline = ""
        if "kafka.Kafka" in cmdline and str(self.properties) in cmdline:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> BrokerStatus:
        """Whether our broker runs, on which address, with which Kafka version."""
        pid = self.pid()
        return BrokerStatus(pid is not None, pid, self.address, kafka_version(self.settings.kafka_lib))

    def _write_properties(self) -> None:
        base = read_properties(self.settings.kafka_properties)
        port, controller = self.settings.local_port, self.settings.controller_port
        node = base["node.id"]
        base.update(
            {
                "log.dirs": str(self.data),
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "controller.quorum.voters": f"{node}@127.0.0.1:{controller}",
            }
        )
        self.properties.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"# Generated by prefstream from {self.settings.kafka_properties}; edit that file."]
        lines += [f"{key}={value}" for key, value in base.items()]
        self.properties.write_text("\n".join(lines) + "\n")

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            _java(),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{self.settings.kafka_lib}/*",
            main_class,
            *args,
        ]

    def _format_storage(self) -> None:
        if (self.data / "meta.properties").exists():
            return
        if not self.cluster_id_file.exists():
            self.cluster_id_file.write_text(uuid.uuid4().hex[:22])
        self.data.mkdir(parents=True, exist_ok=True)
        cluster_id = self.cluster_id_file.read_text().strip()
        done = subprocess.run(
            self._java_command("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties)),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            reason = error_summary((done.stderr + done.stdout).splitlines(), 1)
            raise BrokerError(f"formatting Kafka storage failed: {reason}")

    def start(self, timeout: float = 60.0) -> float:
        """Start the broker and wait until it answers metadata requests; returns seconds taken."""
        if self.settings.external:
            raise BrokerError(f"KAFKA_BOOTSTRAP is set ({self.settings.bootstrap}): not starting a local broker")
        if self.pid() is not None:
            raise BrokerError(f"the local broker already runs (pid {self.pid()}) on {self.address}")
        for port in (self.settings.local_port, self.settings.controller_port):
            if _port_in_use(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already in use by another process; "
                    "stop it or set PREFSTREAM_KAFKA_PORT"
                )
        _java()
        ensure_jars(self.settings)
        self._write_properties()
        self._format_storage()
        self.logs.mkdir(parents=True, exist_ok=True)
        self._remember_log_offsets()
        began = time.monotonic()
        with (self.logs / "stdout.log").open("ab") as out:
            process = subprocess.Popen(
                self._java_command("kafka.Kafka", str(self.properties)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_ready(process, began, timeout)
        return time.monotonic() - began

    def _wait_ready(self, process: subprocess.Popen[bytes], began: float, timeout: float) -> None:
        while time.monotonic() - began < timeout:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited during start-up (code {process.returncode}): {self.log_tail()}")
            try:
                admin_client(self.settings, timeout=1.0)
                return
            except KafkaUnreachable:
                time.sleep(0.2)
        self.stop()
        raise BrokerError(f"the broker did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 2) -> str:
        """The last error lines the broker logged since this start, on one line."""
        text: list[str] = []
        for name, offset in self._log_offsets.items():
            path = self.logs / name
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(offset if path.stat().st_size >= offset else 0)
                    text += handle.read().decode(errors="replace").splitlines()
        return error_summary(text, lines)

    def _remember_log_offsets(self) -> None:
        self._log_offsets = {
            name: (self.logs / name).stat().st_size if (self.logs / name).exists() else 0
            for name in ("server.log", "stdout.log")
        }

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop our broker by its PID (SIGTERM, then SIGKILL); returns whether one was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.1)
        if process_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while process_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def error_summary(text: list[str], lines: int) -> str:
    """The last `lines` error lines (log ERRORs or exception messages) of Java output, on one line."""
    errors = [line for line in text if " ERROR " in line or " FATAL " in line or _EXCEPTION_LINE.search(line)]
    chosen = (errors or [line for line in text if line.strip()])[-lines:]
    return " | ".join(line.strip()[:300] for line in chosen) or "no output"


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
