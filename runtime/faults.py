"""Which exceptions mean the accelerator is unusable (restart the pod) rather than a bad request.

Torch-free at import time on purpose: the HTTP layer imports this before torch is loaded.
"""

from __future__ import annotations

import sys

_DEVICE_FAULT_MARKERS = (
    "CUDA error",
    "device-side assert",
    "CUBLAS_STATUS",
    "CUDNN_STATUS",
    "illegal memory access",
    "unspecified launch failure",
    "ECC error",
    "NCCL error",
)


def is_device_fault(exc: BaseException) -> bool:
    """True when `exc` means the device cannot be used any more.

    Out-of-memory is not a device fault: the next, smaller request may well succeed.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return False
        accelerator_error = getattr(torch, "AcceleratorError", None)
        if accelerator_error is not None and isinstance(exc, accelerator_error):
            return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _DEVICE_FAULT_MARKERS)
