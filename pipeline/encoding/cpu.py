"""What this CPU can do fast, read at run time (machines differ; one figure from one machine is no rule).

bf16 under torch.autocast was ~3x fp32 on one CPU with AVX512-BF16, ~7x slower where it is emulated
(an AVX2-only EPYC: 1.7 against 11.7 img/s on a ViT-B/32), and 0.65x fp32 on a 2-core Xeon that
reports avx512_bf16 (no AMX). Flags alone do not decide it, so `dtype="auto"` takes bf16 only where
the CPU reports native bf16 *and* a short timing of the encoder's own matrix shape, run once per
process, shows bf16 faster than fp32.
"""

from __future__ import annotations

import functools
import time

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


def auto_cpu_dtype(flags: frozenset[str] | None = None, bf16_faster=None) -> str:
    """The compute dtype `dtype="auto"` means on CPU: "bf16" where it is native and measured faster, else "fp32"."""
    flags = cpu_flags() if flags is None else flags
    if not any(flag in flags for flag in NATIVE_BF16_FLAGS):
        return "fp32"
    faster = bf16_is_faster() if bf16_faster is None else bf16_faster
    return "bf16" if faster else "fp32"


BF16_MARGIN = 1.2  # bf16 must win clearly: autocast adds casts the timing below does not see


@functools.lru_cache(maxsize=1)
def bf16_is_faster(rows: int = 256, width: int = 768, repeats: int = 5) -> bool:
    """Time a ViT-B MLP-sized matmul (rows x 768 @ 768 x 3072) in fp32 and under bf16 autocast on
    this CPU, best of `repeats` each (~0.1 s in all, once per process)."""
    import torch

    x = torch.randn(rows, width)
    layer = torch.nn.Linear(width, 4 * width)

    def best(autocast: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            layer(x)  # warm up (oneDNN picks its kernel here)
            for _ in range(repeats):
                start = time.perf_counter()
                layer(x)
                times.append(time.perf_counter() - start)
        return min(times)

    return best(False) > BF16_MARGIN * best(True)
