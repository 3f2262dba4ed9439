"""Starts a real `myelin` process on a free loopback port for each test that asks for one."""

import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def myelin_binary() -> str:
    binary = os.environ.get("MYELIN_BIN", str(ROOT / "target" / "debug" / "myelin"))
    if not Path(binary).exists():
        raise RuntimeError(f"{binary} is missing: run `cargo build` first (scripts/test does)")
    return binary


def keep_logs(name: str, text: str) -> None:
    """Writes a server's log into $INTEROP_LOG_DIR, when set, for debugging failures."""
    directory = os.environ.get("INTEROP_LOG_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        Path(directory, name.replace(":", "_") + ".log").write_text(text)


class MyelinProcess:
    server_name = "localhost"

    def __init__(self, **settings: str):
        self.data_dir = tempfile.TemporaryDirectory(prefix="myelin-interop-")
        env = dict(os.environ)
        env.update(
            {
                "MYELIN_SERVER__DATA_DIR": self.data_dir.name,
                "MYELIN_CLIENT__BIND": "127.0.0.1:0",
                "MYELIN_FEDERATION__ENABLED": "false",
                "MYELIN_RATE_LIMITS__ENABLED": "false",
                "MYELIN_LOG": os.environ.get("MYELIN_LOG", "info"),
            }
        )
        env.update(settings)
        self.process = subprocess.Popen(
            [myelin_binary()], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.log: list[str] = []
        self.url = self._wait_for_address()
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_address(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            match = re.search(r"client API listening on (http://\S+)", line)
            if match:
                return match.group(1)
        raise RuntimeError("myelin exited before listening:\n" + "".join(self.log))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        keep_logs(f"myelin-{self.server_name}", "".join(self.log))
        self.data_dir.cleanup()


@pytest.fixture
def myelin():
    server = MyelinProcess(MYELIN_REGISTRATION__OPEN="true")
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def federated_myelin() -> MyelinProcess:
    """A Myelin that federates on loopback: named `localhost:<federation port>`, self-signed
    peers accepted, 127.0.0.0/8 allowed."""
    port = free_port()
    server = MyelinProcess(
        MYELIN_REGISTRATION__OPEN="true",
        MYELIN_SERVER__NAME=f"localhost:{port}",
        MYELIN_FEDERATION__ENABLED="true",
        MYELIN_FEDERATION__BIND=f"127.0.0.1:{port}",
        MYELIN_FEDERATION__VERIFY_CERTIFICATES="false",
        MYELIN_FEDERATION__IP_RANGE_ALLOWLIST='["127.0.0.0/8"]',
    )
    server.server_name = f"localhost:{port}"
    return server


SYNAPSE_PYTHON = ROOT / ".venv-synapse" / "bin" / "python"

LOG_CONFIG = """version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {dir}/homeserver.log
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
"""


class SynapseProcess:
    """Synapse from PyPI (installed by scripts/test into .venv-synapse) as a federation peer,
    with the settings of tests/interop/synapse-peer.yaml.template."""

    def __init__(self, extra_config: str = ""):
        if not SYNAPSE_PYTHON.exists():
            raise RuntimeError(".venv-synapse is missing: scripts/test installs it")
        self.dir = tempfile.TemporaryDirectory(prefix="synapse-interop-")
        directory = self.dir.name
        self.tls_port = free_port()
        self.http_port = free_port()
        self.server_name = f"localhost:{self.tls_port}"
        self.url = f"http://127.0.0.1:{self.http_port}"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", f"{directory}/tls.key", "-out", f"{directory}/tls.crt", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        template = (Path(__file__).parent / "synapse-peer.yaml.template").read_text()
        config = (
            template.replace("@SERVER_NAME@", self.server_name)
            .replace("@TLS_PORT@", str(self.tls_port))
            .replace("@HTTP_PORT@", str(self.http_port))
            .replace("@DIR@", directory)
        )
        Path(directory, "homeserver.yaml").write_text(config + extra_config)
        Path(directory, "log.yaml").write_text(LOG_CONFIG.format(dir=directory))
        command = [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", f"{directory}/homeserver.yaml"]
        subprocess.run(command + ["--generate-keys"], check=True, capture_output=True)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("Synapse did not start:\n" + self.log())
                time.sleep(0.3)

    def log(self) -> str:
        path = Path(self.dir.name, "homeserver.log")
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        keep_logs(f"synapse-{self.server_name}", self.log())
        self.dir.cleanup()


@pytest.fixture(scope="module")
def synapse():
    server = SynapseProcess()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def federated():
    server = federated_myelin()
    yield server
    server.stop()
