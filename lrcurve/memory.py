"""How much memory a prediction needs, and refusing up front one that cannot fit."""

from __future__ import annotations

from lrcurve.errors import ParameterError

# Peak memory of a prediction per step (measured in benchmarks/speed.py on 5M-step WSD runs,
# rounded up): without the standard-error band, and with it (the Jacobian is steps x params).
PREDICT_BYTES_PER_STEP = 64
BAND_BYTES_PER_STEP = 400


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


def check_memory(n_steps: int, band: bool) -> None:
    """Refuse up front a prediction of ``n_steps`` that cannot fit in the available memory."""
    need = n_steps * (BAND_BYTES_PER_STEP if band else PREDICT_BYTES_PER_STEP)
    available = available_memory()
    if available is not None and need > available:
        raise ParameterError(
            f"predicting {n_steps:,} steps needs about {need / 1e9:.1f} GB of memory"
            f"{' with the standard-error band' if band else ''}; {available / 1e9:.1f} GB are "
            "available",
            param="steps",
        )
