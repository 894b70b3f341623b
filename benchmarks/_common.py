"""Helpers shared by the benchmark scripts: hardware and version records,
repository-relative paths, and rewriting one section of RESULTS.md."""

import platform
from importlib import metadata
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> Optional[str]:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def rel(path: Path) -> str:
    """``path`` relative to the repository root when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section titled ``heading`` of the markdown file ``path``
    (up to the next level-1/2 heading) with ``section``, append it if absent,
    create the file if missing; every other section is left as it is."""
    path = Path(path)
    if path.exists():
        lines = path.read_text().splitlines()
        start = next((i for i, l in enumerate(lines) if l.strip() == heading), None)
        if start is None:
            text = "\n".join(lines).rstrip("\n") + "\n\n" + section
        else:
            end = next((i for i in range(start + 1, len(lines))
                        if lines[i].startswith("## ") or lines[i].startswith("# ")), len(lines))
            before = "\n".join(lines[:start]).rstrip("\n")
            after = "\n".join(lines[end:])
            text = (before + "\n\n" if before else "") + section
            if after.strip():
                text = text.rstrip("\n") + "\n\n" + after.rstrip("\n") + "\n"
    else:
        text = "# Benchmarks\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
