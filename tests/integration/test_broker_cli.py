"""The `prefstream broker` and `topics` commands, including their one-line errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prefstream.core.settings import Settings
from prefstream.local.broker import process_alive
from tests.kafka_for_tests import free_block, free_port


def prefstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "prefstream", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert fragment in done.stderr


def test_status_reports_the_running_pinned_kafka(kafka: Settings) -> None:
    if kafka.external:
        pytest.skip("an external cluster was given")
    done = prefstream("broker", "status")
    assert done.returncode == 0, done.stderr
    assert "running: Apache Kafka 4.3.1" in done.stdout
    assert f"127.0.0.1:{kafka.local_port}" in done.stdout


def test_start_status_stop_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    port, controller = free_port(), free_port()
    env = {
        "PREFSTREAM_HOME": str(tmp_path),
        "PREFSTREAM_KAFKA_PORT": str(port),
        "PREFSTREAM_CONTROLLER_PORT": str(controller),
        "KAFKA_BOOTSTRAP": "",
    }
    started = prefstream("broker", "start", env=env)
    assert started.returncode == 0, started.stderr
    assert "Kafka 4.3.1 ready" in started.stdout
    pid = int((tmp_path / "kafka" / "broker.pid").read_text())
    assert "running: Apache Kafka 4.3.1" in prefstream("broker", "status", env=env).stdout
    again = prefstream("broker", "start", env=env)
    assert_one_line_error(again, 3, "already runs")
    stopped = prefstream("broker", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not process_alive(pid)
    for listening in (port, controller):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", listening)) != 0
    assert prefstream("broker", "status", env=env).returncode == 1


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = {"PREFSTREAM_HOME": str(tmp_path), "PREFSTREAM_KAFKA_PORT": str(squatter.getsockname()[1]), "KAFKA_BOOTSTRAP": ""}
        assert_one_line_error(prefstream("broker", "start", env=env), 3, "already in use")


def test_no_java_is_a_one_line_error(tmp_path: Path) -> None:
    env = {
        "PREFSTREAM_HOME": str(tmp_path),
        "PREFSTREAM_KAFKA_PORT": str(free_port()),
        "PREFSTREAM_CONTROLLER_PORT": str(free_port()),
        "PATH": str(Path(sys.executable).parent),
        "KAFKA_BOOTSTRAP": "",
    }
    assert_one_line_error(prefstream("broker", "start", env=env), 3, "Java not found")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [("this is not a property", "is not key=value"), ("num.partitions=abc", "Invalid value abc")],
)
def test_a_broken_server_properties_is_a_one_line_error(tmp_path: Path, extra: str, fragment: str) -> None:
    properties = tmp_path / "server.properties"
    base = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "server.properties"
    properties.write_text(base.read_text() + extra + "\n")
    env = {
        "PREFSTREAM_HOME": str(tmp_path / "home"),
        "PREFSTREAM_KAFKA_PORT": str(free_port()),
        "PREFSTREAM_CONTROLLER_PORT": str(free_port()),
        "PREFSTREAM_KAFKA_PROPERTIES": str(properties),
        "KAFKA_BOOTSTRAP": "",
    }
    done = prefstream("broker", "start", env=env)
    assert_one_line_error(done, 3, fragment)
    assert not (tmp_path / "home" / "kafka" / "broker.pid").exists()


def test_an_unreachable_bootstrap_is_a_one_line_error() -> None:
    env = {"KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    assert_one_line_error(prefstream("topics", "create", env=env), 4, "did not answer")
    status = prefstream("broker", "status", env=env)
    assert status.returncode == 4 and "unreachable" in status.stdout


def test_topics_commands_create_then_describe(kafka: Settings) -> None:
    created = prefstream("topics", "create")
    assert created.returncode == 0, created.stderr
    described = prefstream("topics", "describe")
    assert described.returncode == 0, described.stderr
    assert "preference-events" in described.stdout and "retention.ms=-1" in described.stdout


def stage_logs(home: Path) -> str:
    """The tail of every stage's log under a run's home: what a failed start printed."""
    return "".join(f"\n--- {log.name}\n" + "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
                   for log in sorted((home / "logs").glob("*.log")))


def test_a_second_run_says_so_and_leaves_the_first_running(kafka: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "PREFSTREAM_HOME": str(tmp_path), "KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
           "PREFSTREAM_RUN_BASE_PORT": str(free_block()), "CI": "true"}
    first = subprocess.Popen([sys.executable, "-m", "prefstream", "run"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(first.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not any("every stage ready" in line for line in lines):
            assert first.poll() is None and time.monotonic() < deadline, "".join(lines) + stage_logs(tmp_path)
            time.sleep(0.5)
        second = prefstream("run", env={"PREFSTREAM_HOME": str(tmp_path), "KAFKA_BOOTSTRAP": kafka.bootstrap_servers})
        assert_one_line_error(second, 3, f"already running (pid {first.pid})")
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)
    assert first.returncode == 0, "".join(lines)
