"""Process set-up of the commands: torch threads and device, quiet
libraries, the rich console and progress bars, and the run record (process
age, library versions, hardware)."""

from __future__ import annotations

import time

# Fallback start time of the run record where /proc is unavailable: taken
# as early as possible, before the imports below.
_T_START = time.perf_counter()

import contextlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple  # noqa: E402

from .errors import CLIError  # noqa: E402


def default_threads() -> int:
    """Half the usable cores, at most 4, at least 1: the models' batches are
    small, and extra intra-op threads mostly spin-wait on shared cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def configure_threads(requested: Optional[int]) -> int:
    """Set torch's CPU threads: ``requested``, else :func:`default_threads`
    unless ``$OMP_NUM_THREADS`` is set; returns the number in use."""
    import torch

    if requested is not None:
        torch.set_num_threads(requested)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_threads())
    return torch.get_num_threads()


def quiet_libraries() -> None:
    """Keep the console to our table and progress bars."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                 "lightning_fabric", "gluonts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"lightning(\..*)?")
    warnings.filterwarnings("ignore", module=r"pytorch_lightning(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*Using `json`-module.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")


def resolve_device(device: str) -> Tuple[str, str]:
    """``--device`` -> (lightning accelerator, torch device)."""
    import torch

    if device == "cpu":
        return "cpu", "cpu"
    has_cuda = torch.cuda.is_available()
    if device == "cuda":
        if not has_cuda:
            raise CLIError("--device cuda: no CUDA device is available (use --device cpu)")
        return "gpu", "cuda"
    return ("gpu", "cuda") if has_cuda else ("cpu", "cpu")


def console(stderr: bool = False):
    """A rich console; 160 columns when the output is not a terminal, so
    captured tables are not squeezed into 80."""
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out = Console(stderr=stderr, highlight=False, soft_wrap=False, width=160)
    return out


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool) -> Iterator[Any]:
    """A rich progress bar over ``total`` series on stderr; yields the
    function that advances it (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def tracked(items: Iterable[Any], advance) -> Iterator[Any]:
    """``items``, calling ``advance()`` after each (unless it is None)."""
    for x in items:
        yield x
        if advance is not None:
            advance()


def process_age() -> Optional[float]:
    """Seconds since this process started (Linux ``/proc``), so timings
    include the interpreter start and every import; None elsewhere."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5): starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def since_start() -> float:
    """:func:`process_age`, else the seconds since this module was imported."""
    age = process_age()
    return age if age is not None else time.perf_counter() - _T_START


def versions() -> Dict[str, str]:
    """Versions of Python and the libraries a run depends on."""
    import gluonts
    import lightning
    import numpy
    import pandas
    import torch

    from .. import __version__

    return {
        "gluonts_iqf": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gluonts": gluonts.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def hardware(torch_device: str, threads: int) -> Dict[str, Any]:
    """Platform, CPU count, torch threads and device (with the GPU name)."""
    import torch

    info: Dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": torch_device,
    }
    if torch_device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
