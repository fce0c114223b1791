"""Signal processing: pure numpy/scipy, no threads, no I/O, no Qt (docs/signal-processing.md).

:class:`Pipeline` turns a stream's chunks (ADC counts or imported uV/mV) into the filtered signal,
the causal RMS envelope in microvolts at the electrodes and per-sample quality flags. It is a
short composition of stages (screening and scale, gaps, band-pass + notches, envelope, noise
floor, quality), each in its own module; see :mod:`biofeedback.dsp.pipeline`.
"""

from biofeedback.dsp.pipeline import (
    OutputChannel,
    Pipeline,
    PipelineSettings,
    PipelineSettingsError,
)

__all__ = ["OutputChannel", "Pipeline", "PipelineSettings", "PipelineSettingsError"]
