"""Helpers shared by the benchmark scripts: hardware and version records,
repository-relative paths, the raw-data folder option, and rewriting one
section of RESULTS.md."""

import argparse
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Iterable, Optional

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


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``: the folder of the raw benchmark files."""
    parser.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="folder holding the raw benchmark files (default: $GLUONTS_IQF_DATA_DIR); "
             "required for every dataset but the embedded m4_hourly",
    )


def check_data_dir(parser: argparse.ArgumentParser, data_dir: Optional[str],
                   names: Iterable[str]) -> Optional[str]:
    """The ``data_dir`` to load ``names`` with: ``--data-dir``, else
    ``$GLUONTS_IQF_DATA_DIR`` when a dataset among them is not embedded
    (else None: the package's copy); a usage error naming those datasets
    when neither is given."""
    from gluonts_iqf.datasets import DATA_DIR_ENV, DATASETS, EMBEDDED

    folder = data_dir or os.environ.get(DATA_DIR_ENV) or None
    needed = [n for n in names if n in DATASETS and n not in EMBEDDED]
    if needed and folder is None:
        parser.error(
            f"--data-dir DIR (the folder of the raw benchmark files) or "
            f"${DATA_DIR_ENV} is required for {', '.join(needed)}"
        )
    return folder if needed else data_dir


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


def publish(text: str, markdown: str, heading: str) -> None:
    """Print a report's section and, when ``markdown`` names a file, write
    it there as the section titled ``heading`` (:func:`write_section`)."""
    print(text)
    if markdown:
        write_section(Path(markdown), heading, text)
