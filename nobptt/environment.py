"""Facts about where a result was measured: hardware, software versions and code commit."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str | None:
    """The code's 40-hex git commit, or None when unknown; NOBPTT_COMMIT overrides (a copy of the
    tree without ``.git``, e.g. a remote GPU machine). Whether the tree was clean: :func:`environment`."""
    from nobptt.records.provenance import tree_state

    return tree_state()["commit"]


def environment(device: str = "cpu") -> dict[str, Any]:
    """Hardware, device, torch, python, the commit (40 hex or None) and whether the tree under
    nobptt/, tests/ and pyproject.toml was clean (None when it cannot be checked)."""
    from nobptt.records.provenance import tree_state

    hardware = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        hardware["gpu"] = torch.cuda.get_device_name(torch.device(device))
    state = tree_state()
    return {"hardware": hardware, "device": device, "torch": torch.__version__,
            "python": platform.python_version(), "commit": state["commit"], "clean": state["clean"]}
