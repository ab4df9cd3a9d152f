"""What this CPU can do fast, read at run time (machines differ; one figure from one machine is no rule).

bf16 under torch.autocast is ~3x fp32 where the CPU computes bf16 natively (AVX512-BF16 or AMX) and
~7x slower where it is emulated (an AVX2-only EPYC: 1.7 against 11.7 img/s on a ViT-B/32), so
`dtype="auto"` picks bf16 only on the first kind.
"""

from __future__ import annotations

import functools

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where that file is absent (macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):  # x86 / ARM spelling
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def auto_cpu_dtype(flags: frozenset[str] | None = None) -> str:
    """The compute dtype `dtype="auto"` means on CPU: "bf16" with native bf16, else "fp32"."""
    flags = cpu_flags() if flags is None else flags
    return "bf16" if any(flag in flags for flag in NATIVE_BF16_FLAGS) else "fp32"
