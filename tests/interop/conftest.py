"""Starts a real `myelin` process on a free loopback port for each test that asks for one."""

import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def myelin_binary() -> str:
    binary = os.environ.get("MYELIN_BIN", str(ROOT / "target" / "debug" / "myelin"))
    if not Path(binary).exists():
        raise RuntimeError(f"{binary} is missing: run `cargo build` first (scripts/test does)")
    return binary


class MyelinProcess:
    def __init__(self, **settings: str):
        self.data_dir = tempfile.TemporaryDirectory(prefix="myelin-interop-")
        env = dict(os.environ)
        env.update(
            {
                "MYELIN_SERVER__DATA_DIR": self.data_dir.name,
                "MYELIN_CLIENT__BIND": "127.0.0.1:0",
                "MYELIN_FEDERATION__ENABLED": "false",
                "MYELIN_RATE_LIMITS__ENABLED": "false",
                "MYELIN_LOG": "info",
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
        self.data_dir.cleanup()


@pytest.fixture
def myelin():
    server = MyelinProcess(MYELIN_REGISTRATION__OPEN="true")
    yield server
    server.stop()
