"""Why a trace could not be run at all (a trace that ran always ends in a Verdict instead).

    TraceError
    ├── EndpointNotFound    the text names no port, instance, fixed or floating IP, or outside address
    ├── EndpointAmbiguous   it names several (overlapping addresses, shared names): ``candidates``
    └── ProbeInvalid        the probe makes no sense (tcp without a port, outside to outside, ...)
"""

from __future__ import annotations


class TraceError(Exception):
    code = "trace-error"


class EndpointNotFound(TraceError):
    code = "endpoint-not-found"


class EndpointAmbiguous(TraceError):
    code = "endpoint-ambiguous"

    def __init__(self, message: str, candidates: tuple[str, ...] = ()):
        super().__init__(message)
        self.candidates = candidates


class ProbeInvalid(TraceError):
    code = "probe-invalid"
