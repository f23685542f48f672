"""docker-compose.yml and the Procfile start what the README says, with one environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def batchhook_services() -> dict[str, Any]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("command", [""])[0] == "batchhook"
    }


def test_every_batchhook_service_gets_the_whole_shared_environment() -> None:
    shared = compose()["x-environment"]
    assert {"BATCHHOOK_REDIS_URL", "BATCHHOOK_SECRET_KEY", "BATCHHOOK_RETRY_SCHEDULE"} <= set(
        shared
    )

    services = batchhook_services()
    assert set(services) == {"web", "worker", "beat"}
    for name, service in services.items():
        environment = service["environment"]
        missing = {key for key in shared if environment.get(key) != shared[key]}
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_web_adds_its_port_to_the_shared_environment() -> None:
    web = batchhook_services()["web"]
    assert web["environment"]["PORT"] == "8000"
    assert web["ports"] == ["${BATCHHOOK_PORT:-8000}:8000"]


def test_the_procfile_runs_the_three_processes_with_nothing_but_the_environment() -> None:
    lines = (ROOT / "Procfile").read_text().split("\n")
    entries = dict(line.split(": ", 1) for line in lines if line.strip())
    assert entries == {
        "web": "batchhook web",
        "worker": "batchhook worker",
        "beat": "batchhook beat",
    }
