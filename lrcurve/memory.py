"""How much memory a prediction needs, and refusing up front one that cannot fit."""

from __future__ import annotations

from lrcurve.errors import ParameterError

# Peak bytes per predicted step (measured with benchmarks/speed.py, rounded up over WSD and
# cosine schedules: the multi-power law's LR change tree, ~20 bytes a change, grows with the
# steps where the LR changes), without and with the standard-error band (a Jacobian of steps x
# parameters).
BYTES_PER_STEP = {
    "momentum": (64, 256),
    "multipower": (64, 512),
    "forward-momentum": (64, 256),  # measured 40 / 168 (1M steps, WSD and cosine)
    "forward-momentum-size": (64, 328),  # five more Jacobian columns (8 bytes a step each)
}
UNKNOWN_LAW = (512, 1024)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(law: str, n_steps: int, band: bool) -> None:
    """Refuse up front a prediction of ``n_steps`` by ``law`` that cannot fit in the available
    memory (``band``: with its standard errors)."""
    need = n_steps * BYTES_PER_STEP.get(law, UNKNOWN_LAW)[band]
    available = available_memory()
    if available is not None and need > available:
        raise ParameterError(
            f"predicting {n_steps:,} steps needs about {need / 1e9:.1f} GB of memory"
            f"{' with the standard-error band' if band else ''}; {available / 1e9:.1f} GB are "
            "available",
            param="steps",
        )
